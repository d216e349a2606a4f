"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTRPC } from "@/trpc/client";

const ROLES = ["annotator", "lead", "researcher", "admin"] as const;
type Role = (typeof ROLES)[number];
const isRole = (v: string): v is Role => (ROLES as readonly string[]).includes(v);

export function UsersAdmin({ currentUserId }: { currentUserId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const users = useQuery(trpc.users.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.users.list.queryKey() });
  const create = useMutation(trpc.users.create.mutationOptions({ onSuccess: refresh }));
  const setDisabled = useMutation(trpc.users.setDisabled.mutationOptions({ onSuccess: refresh }));
  const setRole = useMutation(trpc.users.setRole.mutationOptions({ onSuccess: refresh }));
  const [role, setNewRole] = useState<Role>("annotator");

  const onCreate = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    create.mutate(
      {
        email: String(data.get("email") ?? ""),
        name: String(data.get("name") ?? ""),
        password: String(data.get("password") ?? ""),
        role,
      },
      { onSuccess: () => form.reset() },
    );
  };

  const actionError = setDisabled.error ?? setRole.error;
  return (
    <div className="stack">
      <section className="card">
        <h2>Add a user</h2>
        <form className="inline-form" onSubmit={onCreate}>
          <label>
            E-mail
            <input name="email" type="email" required autoComplete="off" />
          </label>
          <label>
            Name
            <input name="name" type="text" autoComplete="off" />
          </label>
          <label>
            Password
            <input name="password" type="password" required minLength={12} autoComplete="new-password" />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => isRole(e.target.value) && setNewRole(e.target.value)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? "Adding…" : "Add user"}
          </button>
        </form>
        <p className="hint">
          Passwords: at least 12 characters, two kinds of character, not the account name.
        </p>
        {create.error && (
          <p role="alert" className="form-error">
            {create.error.message}
          </p>
        )}
        {create.data && <p className="form-ok">Added {create.data.email}.</p>}
      </section>
      <section className="card">
        <h2>All users</h2>
        {actionError && (
          <p role="alert" className="form-error">
            {actionError.message}
          </p>
        )}
        {users.isPending ? (
          <p className="muted">Loading…</p>
        ) : users.error ? (
          <p role="alert" className="form-error">
            {users.error.message}
          </p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>E-mail</th>
                <th>Name</th>
                <th>Role</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => {
                const self = u.id === currentUserId;
                return (
                  <tr key={u.id} data-testid="user-row" data-email={u.email}>
                    <td>{u.email}</td>
                    <td>{u.name}</td>
                    <td>
                      <select
                        aria-label={`Role of ${u.email}`}
                        value={u.role}
                        disabled={self || setRole.isPending}
                        onChange={(e) =>
                          isRole(e.target.value) && setRole.mutate({ userId: u.id, role: e.target.value })
                        }
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>{u.disabled ? <span className="tag danger">disabled</span> : "active"}</td>
                    <td>
                      {!self && (
                        <button
                          type="button"
                          disabled={setDisabled.isPending}
                          onClick={() => setDisabled.mutate({ userId: u.id, disabled: !u.disabled })}
                        >
                          {u.disabled ? "Enable" : "Disable"}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
