// REST calls from the browser: same-origin, session cookie, CSRF header, one error shape.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? '';
}

let onUnauthenticated = () => {};

/** Register what to do when the session has ended (go to the sign-in page). */
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

/** Call the REST API and return the decoded JSON body (or null for 204). */
export async function apiFetch(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network', error.message);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    if (error.code === 'unauthenticated') onUnauthenticated();
    throw new ApiError(response.status, error.code ?? 'error', error.message ?? response.statusText, error);
  }
  return data;
}
