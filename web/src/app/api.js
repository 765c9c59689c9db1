// The API client: queries and mutations over HTTP POST, subscriptions over
// a WebSocket (graphql-transport-ws), both with the signed-in user's token.
import { createClient } from 'graphql-ws';

const httpURL = new URL('/graphql', location.href).href;
const tokenKey = 'coderunner.token';

let token = localStorage.getItem(tokenKey);
let socket = null;

export const signedIn = () => token !== null;

/** Keeps (or, with null, forgets) the session token. */
export function setToken(t) {
  token = t;
  if (t === null) localStorage.removeItem(tokenKey);
  else localStorage.setItem(tokenKey, t);
  // The token travels in connection_init: a new one needs a new socket.
  socket?.dispose();
  socket = null;
}

/** An error the API answered, with its extensions.code. */
export class APIError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.extensions?.code;
    this.retryAfterMs = error.extensions?.retryAfterMs;
    this.extensions = error.extensions ?? {};
  }
}

/** Runs a query or mutation and returns its data, or throws an APIError. */
export async function gql(query, variables = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(httpURL, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors?.length) throw new APIError(body.errors[0]);
  return body.data;
}

/**
 * Subscribes and calls onData with each result's data, onError with an
 * APIError or a connection failure, onDone when the server completes it.
 * Returns the function that ends it.
 */
export function subscribe(query, variables, { onData, onError, onDone }) {
  if (!socket) {
    socket = createClient({
      url: httpURL.replace(/^http/, 'ws'),
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    });
  }
  return socket.subscribe(
    { query, variables },
    {
      next: (result) => (result.errors?.length ? onError(new APIError(result.errors[0])) : onData(result.data)),
      error: (err) => onError(err instanceof Error ? err : new Error('the connection to the server was lost')),
      complete: onDone,
    },
  );
}

/** Says what went wrong, in words for a child. */
export function explain(err) {
  switch (err.code) {
    case 'RATE_LIMITED':
      return `Slow down a little: try again in ${Math.ceil((err.retryAfterMs ?? 1000) / 1000)} seconds.`;
    case 'QUOTA_EXCEEDED':
      return 'You have used up today’s runs. Come back tomorrow!';
    case 'UNAUTHENTICATED':
      return 'Please sign in again.';
    default:
      return err.message;
  }
}
