"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { TRPCClientError } from "@trpc/client";
import type { AppRouter } from "@xray/api";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { HeatmapControls } from "@/components/viewer/heatmap-controls";
import { fullUrl, prefetchGrey, readyGrey, thumbUrl } from "@/components/viewer/image-cache";
import { ViewerToolbar } from "@/components/viewer/viewer-toolbar";
import { type ViewerHandle, type ViewerHeatmap, XrayViewer } from "@/components/viewer/xray-viewer";
import { useTRPC } from "@/trpc/client";
import { SHORTCUTS, SKIP_REASONS } from "./keymap";

type Gate = "normal" | "abnormal";
type FindingValue = "positive" | "negative" | "uncertain";

interface Head {
  key: string;
  name: string;
}

export interface WorkspaceDataset {
  id: string;
  name: string;
  readingMode: "blind" | "assisted";
  labelSchema: { gate: Head; findings: Head[] };
}

interface Item {
  id: string;
  width: number;
  height: number;
  species: string | null;
  bodyPart: string | null;
  view: string | null;
  leaseExpiresAt: Date;
}

interface Submitted {
  item: Item;
  kind: "read" | "skip";
  gate: Gate | null;
  findings: Record<string, FindingValue>;
  flagged: boolean;
}

const NEXT_VALUE: Record<FindingValue, FindingValue> = {
  negative: "positive",
  positive: "uncertain",
  uncertain: "negative",
};
const VALUE_LABEL: Record<FindingValue, string> = { positive: "Yes", negative: "No", uncertain: "?" };

/** A server that answered (any tRPC error code) vs. one we could not reach (retry the same call). */
function codeOf(err: unknown): string | null {
  if (err instanceof TRPCClientError) {
    const data: unknown = (err as TRPCClientError<AppRouter>).data;
    if (data && typeof data === "object" && "code" in data && typeof data.code === "string") return data.code;
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isTyping(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")
  );
}

export function ReadWorkspace({ dataset }: { dataset: WorkspaceDataset }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const findingsSchema = dataset.labelSchema.findings;
  const rootRef = useRef<HTMLDivElement>(null);
  const viewer = useRef<ViewerHandle>(null);
  const busy = useRef(false);
  const shownAt = useRef(0);
  /** The image the queue will most likely give next (peeked, prefetched); shown at once on submit. */
  const peeked = useRef<string | null>(null);

  const [item, setItem] = useState<Item | null>(null);
  const [phase, setPhase] = useState<"loading" | "reading" | "saving" | "empty">("loading");
  const [gate, setGate] = useState<Gate | null>(null);
  const [findings, setFindings] = useState<Record<string, FindingValue>>({});
  const [flagged, setFlagged] = useState(false);
  const [flagReason, setFlagReason] = useState("");
  const [skipOpen, setSkipOpen] = useState(false);
  const [skipChoice, setSkipChoice] = useState(0);
  const [skipOther, setSkipOther] = useState("");
  const [helpOpen, setHelpOpen] = useState(false);
  const [last, setLast] = useState<Submitted | null>(null);
  const [offline, setOffline] = useState(false);
  const [message, setMessage] = useState<{ text: string; tone: "info" | "error" } | null>(null);
  const [count, setCount] = useState(0);
  const [heatHead, setHeatHead] = useState<string | null>(null);
  const [heatOn, setHeatOn] = useState(true);
  const [heatOpacity, setHeatOpacity] = useState(0.45);

  const next = useMutation(trpc.queue.next.mutationOptions());
  const submitM = useMutation(trpc.reads.submit.mutationOptions());
  const skipM = useMutation(trpc.reads.skip.mutationOptions());
  const undoM = useMutation(trpc.reads.undo.mutationOptions());

  const assisted = dataset.readingMode === "assisted";
  const assist = useQuery(
    trpc.queue.assist.queryOptions(
      { imageId: item?.id ?? "" },
      { enabled: assisted && item !== null && item.leaseExpiresAt.getTime() > 0, retry: 1 },
    ),
  );
  const assistData = assisted && item ? (assist.data ?? null) : null;
  const head =
    heatHead && assistData?.heatmapHeads.includes(heatHead)
      ? heatHead
      : (assistData?.heatmapHeads[0] ?? null);
  const itemIdForHeat = item?.id;
  const heatmap: ViewerHeatmap | null = useMemo(
    () =>
      assistData && head && itemIdForHeat
        ? {
            url: `/api/heatmaps/${assistData.versionId}/${itemIdForHeat}/${encodeURIComponent(head)}`,
            opacity: heatOpacity,
            visible: heatOn,
          }
        : null,
    [assistData, head, itemIdForHeat, heatOpacity, heatOn],
  );

  /**
   * Runs a call until the server answers: while it is unreachable the page says so and retries the
   * very same call (payloads are idempotent: a repeated submit is a CONFLICT, i.e. already saved).
   */
  const persist = useCallback(async <T,>(call: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await call();
        setOffline(false);
        return out;
      } catch (err) {
        if (codeOf(err) !== null) {
          setOffline(false);
          throw err;
        }
        setOffline(true);
        await sleep(Math.min(500 * 2 ** attempt, 5000));
      }
    }
  }, []);

  /** Set while the shown image is the prefetched guess whose lease is still being taken. */
  const provisional = useRef<string | null>(null);
  /** Enter pressed on a guessed image before its lease was confirmed: submitted once it is. */
  const pendingEnter = useRef(false);
  const show = useCallback((it: Item | null, prefill?: Submitted) => {
    pendingEnter.current = false;
    setItem(it);
    setGate(prefill?.gate ?? null);
    setFindings(prefill?.findings ?? {});
    setFlagged(prefill?.flagged ?? false);
    setFlagReason("");
    setSkipOpen(false);
    setPhase(it ? "reading" : "empty");
    shownAt.current = performance.now();
  }, []);

  const advance = useCallback(async () => {
    const res = await persist(() => next.mutateAsync({ datasetId: dataset.id }));
    if (!res) {
      show(null);
      return;
    }
    const { image } = res;
    const leased: Item = {
      id: image.id,
      width: image.width,
      height: image.height,
      species: image.species,
      bodyPart: image.bodyPart,
      view: image.view,
      leaseExpiresAt: res.leaseExpiresAt,
    };
    // The guess shown on submit was right: keep what the annotator already entered, fill the details.
    if (provisional.current === image.id) {
      provisional.current = null;
      setItem(leased);
      setPhase("reading");
      return;
    }
    provisional.current = null;
    show(leased);
  }, [dataset.id, next, persist, show]);

  // First image on open (a reload resumes the image still leased to this annotator).
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void advance().catch((err: unknown) =>
      setMessage({ text: err instanceof Error ? err.message : "could not load the queue", tone: "error" }),
    );
  }, [advance]);

  // Prefetch the image most likely to come next, so switching draws from decoded pixels.
  useEffect(() => {
    if (!item) return;
    let cancelled = false;
    peeked.current = null;
    void queryClient
      .fetchQuery({
        ...trpc.queue.peek.queryOptions({ datasetId: dataset.id, excludeImageIds: [item.id] }),
        staleTime: 0,
      })
      .then(
        (r) => {
          if (!cancelled && r.imageId) {
            peeked.current = r.imageId;
            prefetchGrey(thumbUrl(r.imageId));
            prefetchGrey(fullUrl(r.imageId));
          }
        },
        () => {},
      );
    return () => {
      cancelled = true;
    };
  }, [item?.id, dataset.id, queryClient, trpc]);

  // When the workspace takes input again after a switch (the lease is confirmed).
  useEffect(() => {
    if (phase === "reading" && rootRef.current) rootRef.current.dataset.readyAt = String(performance.now());
  }, [phase]);

  useEffect(() => {
    const on = () => setOffline(false);
    const off = () => setOffline(true);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    return () => {
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
    };
  }, []);

  const readFindings = useCallback((): Record<string, FindingValue> => {
    if (gate !== "abnormal") return {};
    const out: Record<string, FindingValue> = {};
    for (const f of findingsSchema) out[f.key] = findings[f.key] ?? "negative";
    return out;
  }, [gate, findings, findingsSchema]);

  const markSubmit = () => {
    if (rootRef.current) rootRef.current.dataset.submitAt = String(performance.now());
  };

  /**
   * Shows the prefetched next image at once (its pixels are already decoded) while the submit and
   * the new lease are on their way; advance() confirms it, or replaces it when the queue moved on.
   */
  const showGuess = (): boolean => {
    const id = peeked.current;
    const pixels = id ? readyGrey(fullUrl(id)) : undefined;
    if (!id || !pixels) return false;
    provisional.current = id;
    show({
      id,
      width: pixels.width,
      height: pixels.height,
      species: null,
      bodyPart: null,
      view: null,
      leaseExpiresAt: new Date(0),
    });
    setPhase("saving");
    return true;
  };

  const submit = useCallback(async () => {
    if (!item || busy.current) return;
    if (!gate) {
      setMessage({ text: "Choose Normal (N) or Abnormal (A) first.", tone: "error" });
      return;
    }
    busy.current = true;
    markSubmit();
    setPhase("saving");
    const done: Submitted = { item, kind: "read", gate, findings: readFindings(), flagged };
    const payload = {
      imageId: item.id,
      gate,
      findings: done.findings,
      timeSpentMs: Math.round(performance.now() - shownAt.current),
      flagged,
      flagReason: flagged && flagReason.trim() ? flagReason.trim() : undefined,
      assisted: assistData !== null,
      modelVersionId: assistData?.versionId ?? null,
    };
    showGuess();
    try {
      try {
        await persist(() => submitM.mutateAsync(payload));
      } catch (err) {
        // One read per annotator per image: CONFLICT means an earlier try of this submit was stored.
        if (codeOf(err) !== "CONFLICT") throw err;
      }
      setLast(done);
      setCount((c) => c + 1);
      setMessage({ text: `Saved: ${gate}${flagged ? ", flagged for a lead" : ""}.`, tone: "info" });
      await advance();
    } catch (err) {
      provisional.current = null;
      show(item, done);
      setMessage({ text: err instanceof Error ? err.message : "the read was not saved", tone: "error" });
    } finally {
      busy.current = false;
    }
  }, [item, gate, flagged, flagReason, readFindings, assistData, persist, submitM, advance, show]);

  const skip = useCallback(async () => {
    if (!item || busy.current) return;
    const chosen = SKIP_REASONS[skipChoice] ?? "Other";
    const reason = chosen === "Other" && skipOther.trim() ? `Other: ${skipOther.trim()}` : chosen;
    busy.current = true;
    markSubmit();
    setPhase("saving");
    const timeSpentMs = Math.round(performance.now() - shownAt.current);
    showGuess();
    try {
      try {
        await persist(() =>
          skipM.mutateAsync({
            imageId: item.id,
            reason,
            timeSpentMs,
            flagged,
            flagReason: flagged && flagReason.trim() ? flagReason.trim() : undefined,
          }),
        );
      } catch (err) {
        if (codeOf(err) !== "CONFLICT") throw err;
      }
      setLast({ item, kind: "skip", gate: null, findings: {}, flagged });
      setCount((c) => c + 1);
      setMessage({ text: `Skipped: ${reason}.`, tone: "info" });
      await advance();
    } catch (err) {
      provisional.current = null;
      show(item, { item, kind: "read", gate, findings, flagged });
      setMessage({ text: err instanceof Error ? err.message : "the skip was not saved", tone: "error" });
    } finally {
      busy.current = false;
    }
  }, [item, skipChoice, skipOther, gate, findings, flagged, flagReason, persist, skipM, advance, show]);

  const undo = useCallback(async () => {
    if (!last || busy.current) return;
    if (last.item.leaseExpiresAt.getTime() <= Date.now()) {
      setMessage({
        text: "Too late to undo: the lease has expired. Change it under My reads.",
        tone: "error",
      });
      return;
    }
    busy.current = true;
    try {
      const res = await persist(() => undoM.mutateAsync({ imageId: last.item.id }));
      setMessage({ text: "Undone: the image is back; read it again.", tone: "info" });
      setCount((c) => Math.max(0, c - 1));
      show({ ...last.item, leaseExpiresAt: res.leaseExpiresAt }, last.kind === "read" ? last : undefined);
      setLast(null);
    } catch (err) {
      setMessage({ text: err instanceof Error ? err.message : "could not undo", tone: "error" });
    } finally {
      busy.current = false;
    }
  }, [last, persist, undoM, show]);

  useEffect(() => {
    if (phase === "reading" && pendingEnter.current) {
      pendingEnter.current = false;
      void submit();
    }
  }, [phase, submit]);

  const cycleFinding = useCallback(
    (index: number) => {
      const f = findingsSchema[index];
      if (!f) return;
      if (gate !== "abnormal") {
        setMessage({ text: "Findings apply to abnormal images: press A first.", tone: "error" });
        return;
      }
      setFindings((cur) => ({ ...cur, [f.key]: NEXT_VALUE[cur[f.key] ?? "negative"] }));
    },
    [findingsSchema, gate],
  );

  // One keyboard handler for the whole page, reading the latest state through a ref.
  const onKey = useRef<(e: KeyboardEvent) => void>(() => {});
  onKey.current = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      setSkipOpen(false);
      setHelpOpen(false);
      if (isTyping(e.target) && e.target instanceof HTMLElement) e.target.blur();
      return;
    }
    if (isTyping(e.target)) {
      if (e.key === "Enter" && skipOpen) {
        e.preventDefault();
        void skip();
      }
      return;
    }
    // A focused button handles its own Enter/Space (no double action).
    if (e.target instanceof HTMLButtonElement && (e.key === "Enter" || e.key === " ")) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
      e.preventDefault();
      void undo();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (helpOpen) {
      if (e.key === "?") setHelpOpen(false);
      return;
    }
    if (skipOpen) {
      const n = Number(e.key);
      if (Number.isInteger(n) && n >= 1 && n <= SKIP_REASONS.length) setSkipChoice(n - 1);
      else if (e.key === "Enter") void skip();
      else return;
      e.preventDefault();
      return;
    }
    const v = viewer.current;
    const handled = (() => {
      switch (e.key) {
        case "n":
        case "N":
          setGate("normal");
          return true;
        case "a":
        case "A":
          setGate("abnormal");
          return true;
        case "Enter":
          if (busy.current && provisional.current) pendingEnter.current = true;
          else void submit();
          return true;
        case "s":
        case "S":
          if (item) {
            setSkipChoice(0);
            setSkipOpen(true);
          }
          return true;
        case "f":
        case "F":
          setFlagged((x) => !x);
          return true;
        case "u":
        case "U":
          void undo();
          return true;
        case "?":
          setHelpOpen(true);
          return true;
        case "+":
        case "=":
          v?.zoomBy(1.25);
          return true;
        case "-":
        case "_":
          v?.zoomBy(0.8);
          return true;
        case "0":
          v?.fit();
          return true;
        case "z":
        case "Z":
          v?.oneToOne();
          return true;
        case "r":
        case "R":
          v?.reset();
          return true;
        case "i":
        case "I":
          v?.toggleInvert();
          return true;
        case "[":
          v?.windowBy(-20, 0);
          return true;
        case "]":
          v?.windowBy(20, 0);
          return true;
        case ",":
          v?.windowBy(0, -10);
          return true;
        case ".":
          v?.windowBy(0, 10);
          return true;
        case "ArrowLeft":
          v?.panBy(40, 0);
          return true;
        case "ArrowRight":
          v?.panBy(-40, 0);
          return true;
        case "ArrowUp":
          v?.panBy(0, 40);
          return true;
        case "ArrowDown":
          v?.panBy(0, -40);
          return true;
        case "h":
        case "H":
          setHeatOn((x) => !x);
          return true;
        default: {
          const n = Number(e.key);
          if (Number.isInteger(n) && n >= 1 && n <= 9) {
            cycleFinding(n - 1);
            return true;
          }
          return false;
        }
      }
    })();
    if (handled) e.preventDefault();
  };
  useEffect(() => {
    const listener = (e: KeyboardEvent) => onKey.current(e);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);

  // Keyed by id and size only: filling in a guessed image's details must not redraw it.
  const itemId = item?.id;
  const itemWidth = item?.width;
  const itemHeight = item?.height;
  const viewerImage = useMemo(
    () =>
      itemId !== undefined && itemWidth !== undefined && itemHeight !== undefined
        ? { id: itemId, width: itemWidth, height: itemHeight }
        : null,
    [itemId, itemWidth, itemHeight],
  );
  const saving = phase === "saving";
  const nameOf = (key: string) =>
    key === dataset.labelSchema.gate.key
      ? dataset.labelSchema.gate.name
      : (findingsSchema.find((f) => f.key === key)?.name ?? key);

  return (
    <div className="rw" ref={rootRef} data-testid="read-workspace" data-phase={phase} data-count={count}>
      {offline ? (
        <div className="rw-offline" role="alert" data-testid="offline-banner">
          The server cannot be reached. Your read is kept here and sent again automatically.
        </div>
      ) : null}
      <section className="rw-view" aria-label="Image viewer">
        <ViewerToolbar viewer={viewer} withKeys>
          <button type="button" onClick={() => setHelpOpen(true)} title="Shortcuts (?)">
            Keys ?
          </button>
        </ViewerToolbar>
        {phase === "empty" ? (
          <div className="rw-empty" data-testid="queue-empty">
            Nothing left to read in {dataset.name}. Thank you!
          </div>
        ) : (
          <XrayViewer ref={viewer} image={viewerImage} heatmap={heatmap} />
        )}
      </section>

      <aside className="rw-panel" aria-label="Read">
        <header className="rw-head">
          <h1>{dataset.name}</h1>
          <span className={`rw-mode rw-mode-${dataset.readingMode}`} data-testid="reading-mode">
            {dataset.readingMode === "blind" ? "Blind reading" : "Assisted reading"}
          </span>
        </header>
        <dl className="rw-meta" data-testid="image-meta">
          <div>
            <dt>Species</dt>
            <dd>{item?.species ?? "—"}</dd>
          </div>
          <div>
            <dt>Body part</dt>
            <dd>{item?.bodyPart ?? "—"}</dd>
          </div>
          <div>
            <dt>View</dt>
            <dd>{item?.view ?? "—"}</dd>
          </div>
          <div>
            <dt>Size</dt>
            <dd>{item ? `${item.width}×${item.height}` : "—"}</dd>
          </div>
        </dl>

        <fieldset className="rw-gate" disabled={!item || saving}>
          <legend>{dataset.labelSchema.gate.name}?</legend>
          <button
            type="button"
            aria-pressed={gate === "normal"}
            onClick={() => setGate("normal")}
            data-testid="gate-normal"
          >
            <kbd>N</kbd> Normal
          </button>
          <button
            type="button"
            aria-pressed={gate === "abnormal"}
            onClick={() => setGate("abnormal")}
            data-testid="gate-abnormal"
          >
            <kbd>A</kbd> Abnormal
          </button>
        </fieldset>

        <fieldset className="rw-findings" disabled={!item || saving || gate !== "abnormal"}>
          <legend>Findings</legend>
          {findingsSchema.map((f, i) => {
            const value = gate === "abnormal" ? (findings[f.key] ?? "negative") : "negative";
            return (
              <div className="rw-finding" key={f.key} data-testid={`finding-${f.key}`} data-value={value}>
                <span className="rw-finding-name">
                  {i < 9 ? <kbd>{i + 1}</kbd> : null} {f.name}
                </span>
                <span className="rw-finding-values">
                  {(["positive", "negative", "uncertain"] as const).map((v) => (
                    <button
                      key={v}
                      type="button"
                      aria-pressed={value === v}
                      className={`rw-v rw-v-${v}`}
                      onClick={() => setFindings((cur) => ({ ...cur, [f.key]: v }))}
                    >
                      {VALUE_LABEL[v]}
                    </button>
                  ))}
                </span>
              </div>
            );
          })}
        </fieldset>

        <div className="rw-flag">
          <label className="rw-check">
            <input type="checkbox" checked={flagged} onChange={(e) => setFlagged(e.target.checked)} />
            <span>
              <kbd>F</kbd> Flag for a lead
            </span>
          </label>
          {flagged ? (
            <input
              aria-label="Flag reason (optional)"
              placeholder="Why? (optional)"
              value={flagReason}
              onChange={(e) => setFlagReason(e.target.value)}
            />
          ) : null}
        </div>

        <div className="rw-actions">
          <button
            type="button"
            className="primary"
            onClick={() => void submit()}
            disabled={!item || saving}
            data-testid="submit"
          >
            <kbd>Enter</kbd> Submit
          </button>
          <button
            type="button"
            onClick={() => {
              setSkipChoice(0);
              setSkipOpen(true);
            }}
            disabled={!item || saving}
          >
            <kbd>S</kbd> Skip…
          </button>
          <button type="button" onClick={() => void undo()} disabled={!last || saving} data-testid="undo">
            <kbd>U</kbd> Undo last
          </button>
        </div>
        <p className="rw-status" aria-live="polite" data-testid="read-status">
          {message ? (
            <span className={message.tone === "error" ? "form-error" : ""}>{message.text}</span>
          ) : null}
          <span className="muted"> {count} this session.</span>
        </p>

        {assisted ? (
          <section className="rw-assist" aria-label="Model output" data-testid="assist">
            <h2>Model{assistData ? ` v${assistData.versionNumber}` : ""}</h2>
            {assist.isLoading ? <p className="muted">Loading…</p> : null}
            {!assist.isLoading && !assistData ? (
              <p className="muted">No model output for this image yet.</p>
            ) : null}
            {assistData ? (
              <>
                <ul className="rw-probs">
                  {Object.entries(assistData.probs)
                    .sort((a, b) => b[1] - a[1])
                    .map(([k, p]) => (
                      <li key={k}>
                        <span>{nameOf(k)}</span>
                        <span className="rw-bar" aria-hidden="true">
                          <span style={{ width: `${Math.round(p * 100)}%` }} />
                        </span>
                        <span>{(p * 100).toFixed(0)}%</span>
                      </li>
                    ))}
                </ul>
                {assistData.heatmapHeads.length > 0 ? (
                  <HeatmapControls
                    label={
                      <>
                        <kbd>H</kbd> Grad-CAM heatmap
                      </>
                    }
                    on={heatOn}
                    onToggle={setHeatOn}
                    heads={assistData.heatmapHeads.map((h) => ({ key: h, name: nameOf(h) }))}
                    head={head}
                    onHead={setHeatHead}
                    opacity={heatOpacity}
                    onOpacity={setHeatOpacity}
                  />
                ) : (
                  <p className="muted">No heatmap for this image.</p>
                )}
              </>
            ) : null}
          </section>
        ) : (
          <p className="rw-blind muted">The model&apos;s output stays hidden until your read is submitted.</p>
        )}
      </aside>

      {skipOpen ? (
        <div className="rw-modal" role="dialog" aria-modal="true" aria-label="Skip this image">
          <div className="rw-dialog">
            <h2>Skip this image</h2>
            <ol className="rw-reasons">
              {SKIP_REASONS.map((r, i) => (
                <li key={r}>
                  <label className="rw-check">
                    <input
                      type="radio"
                      name="skip"
                      checked={skipChoice === i}
                      onChange={() => setSkipChoice(i)}
                    />
                    <span>
                      <kbd>{i + 1}</kbd> {r}
                    </span>
                  </label>
                </li>
              ))}
            </ol>
            {SKIP_REASONS[skipChoice] === "Other" ? (
              <input
                aria-label="Other reason"
                placeholder="Reason"
                value={skipOther}
                onChange={(e) => setSkipOther(e.target.value)}
              />
            ) : null}
            <div className="rw-actions">
              <button
                type="button"
                className="primary"
                onClick={() => void skip()}
                data-testid="confirm-skip"
              >
                <kbd>Enter</kbd> Skip
              </button>
              <button type="button" onClick={() => setSkipOpen(false)}>
                <kbd>Esc</kbd> Cancel
              </button>
            </div>
          </div>
        </div>
      ) : null}

      {helpOpen ? (
        <div className="rw-modal" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts">
          <div className="rw-dialog rw-help">
            <h2>Keyboard shortcuts</h2>
            {(["Read", "Viewer"] as const).map((g) => (
              <table key={g}>
                <caption>{g}</caption>
                <tbody>
                  {SHORTCUTS.filter((s) => s.group === g).map((s) => (
                    <tr key={s.keys}>
                      <th scope="row">
                        <kbd>{s.keys}</kbd>
                      </th>
                      <td>{s.action}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ))}
            <button type="button" onClick={() => setHelpOpen(false)}>
              <kbd>Esc</kbd> Close
            </button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
