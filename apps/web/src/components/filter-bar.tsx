import type { ReactNode } from "react";

export interface FilterOption {
  value: string;
  label: string;
}

export interface Filter {
  /** The query parameter (a GET form's field name). */
  name: string;
  label: string;
  value: string;
  options: readonly FilterOption[];
  /** Set for a live filter bar (the selects are controlled); a GET form's selects submit instead. */
  onChange?: (value: string) => void;
  testId?: string;
}

/**
 * A row of labelled select filters: either a GET form with an Apply button (`action`, for server
 * pages whose filters live in the URL) or live selects that call each filter's `onChange`.
 * `children` come after the selects (e.g. a count).
 */
export function FilterBar({
  filters,
  action,
  className,
  children,
}: {
  filters: readonly Filter[];
  action?: string;
  className: string;
  children?: ReactNode;
}) {
  const selects = filters.map((f) => {
    const { onChange } = f;
    return (
      <label key={f.name}>
        {f.label}
        <select
          name={action ? f.name : undefined}
          value={onChange ? f.value : undefined}
          defaultValue={onChange ? undefined : f.value}
          onChange={onChange ? (e) => onChange(e.target.value) : undefined}
          data-testid={f.testId}
        >
          {f.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </label>
    );
  });
  if (action)
    return (
      <form className={className} method="get" action={action}>
        {selects}
        <button type="submit">Apply</button>
        {children}
      </form>
    );
  return (
    <search className={className}>
      {selects}
      {children}
    </search>
  );
}
