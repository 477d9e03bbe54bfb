// Every call of the console goes through here: the public API with the user's credential
// (an API key as x-api-key + x-tenant-id, or a JWT as a Bearer token), so the console can
// do nothing the API would not allow. A 401 clears the credential and returns to login.
const KEY = "hopflow.credential";

export class ApiFailure extends Error {
  constructor(status, body) {
    const text = body && body.message ? body.message : `HTTP ${status}`;
    super(body && body.field ? `${text} (${body.field})` : text);
    this.status = status;
    this.body = body;
  }
}

export function credential() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function saveCredential(secret, tenant) {
  const value = secret.trim();
  const cred = value.startsWith("hf_")
    ? { kind: "key", key: value, tenant: tenant.trim() }
    : { kind: "jwt", token: value, tenant: tenant.trim() };
  sessionStorage.setItem(KEY, JSON.stringify(cred));
}

export function logout() {
  sessionStorage.removeItem(KEY);
}

function headers(extra) {
  const cred = credential();
  const out = { ...extra };
  if (cred && cred.kind === "key") out["x-api-key"] = cred.key;
  if (cred && cred.kind === "jwt") out.authorization = `Bearer ${cred.token}`;
  if (cred && cred.tenant) out["x-tenant-id"] = cred.tenant;
  return out;
}

function toLogin() {
  logout();
  if (!location.hash.startsWith("#/login")) {
    location.hash = `#/login?next=${encodeURIComponent(location.hash || "#/workflows")}`;
  }
}

// fetch with the credential. Answers the Response for 2xx and 304, throws ApiFailure else.
export async function raw(path, { method = "GET", body, etag, accept } = {}) {
  const extra = {};
  if (body !== undefined) extra["content-type"] = "application/json";
  if (etag) extra["if-none-match"] = etag;
  if (accept) extra.accept = accept;
  const response = await fetch(path, {
    method, headers: headers(extra), cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    toLogin();
    throw new ApiFailure(401, { message: "please log in" });
  }
  if (!response.ok && response.status !== 304) {
    let parsed = null;
    try { parsed = await response.json(); } catch { parsed = null; }
    throw new ApiFailure(response.status, parsed);
  }
  return response;
}

export async function get(path) {
  return (await raw(path)).json();
}

export async function post(path, body = {}) {
  return (await raw(path, { method: "POST", body })).json();
}

// A GET that asks "changed since?" with the ETag of the last answer; `null` when unchanged.
// Works against servers without ETags too (then every poll is a full answer).
export function poller(path) {
  let etag = null;
  return async () => {
    const response = await raw(path, { etag });
    if (response.status === 304) return null;
    etag = response.headers.get("etag");
    return response.json();
  };
}
