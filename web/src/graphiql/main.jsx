// GraphiQL for coderunner, served at /graphql to browsers. Queries and
// mutations go over HTTP POST, subscriptions over a WebSocket
// (graphql-transport-ws); both carry the Authorization header typed in the
// headers editor, prefilled with the editor app's session if there is one.
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import './page.css';
import { getOperationAST, parse } from 'graphql';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';

const httpURL = new URL('/graphql', location.href).href;
const wsURL = httpURL.replace(/^http/, 'ws');

// One WebSocket per Authorization value: the token travels in
// connection_init, so a changed header needs a new connection.
let socket = null;
let socketAuth = null;
function wsClient(authorization) {
  if (!socket || socketAuth !== authorization) {
    socket?.dispose();
    socketAuth = authorization;
    socket = createClient({ url: wsURL, connectionParams: authorization ? { authorization } : {} });
  }
  return socket;
}

function header(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

// Parsed here: GraphiQL's own documentAST lags behind the editor.
function isSubscription(params) {
  try {
    const op = getOperationAST(parse(params.query), params.operationName);
    return op?.operation === 'subscription';
  } catch {
    return false; // let the server explain what is wrong with it
  }
}

async function fetcher(params, opts = {}) {
  const headers = opts.headers ?? {};
  if (isSubscription(params)) {
    // An observable: GraphiQL shows each result as it arrives.
    const client = wsClient(header(headers, 'authorization'));
    return { subscribe: (sink) => ({ unsubscribe: client.subscribe(params, sink) }) };
  }
  const res = await fetch(httpURL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: JSON.stringify(params),
  });
  return res.json();
}

const token = localStorage.getItem('coderunner.token');
// Without a token the caller is a guest: a made-up one would be refused.
const defaultHeaders = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : '';

const defaultQuery = `# coderunner's GraphQL API. Without a token you are a guest: signUp or
# signIn returns one, to put in Headers below as
# {"Authorization": "Bearer TOKEN"}.

query Curriculum {
  ageGroups {
    slug
    title
    levels { id title problems { id title } }
  }
}

mutation Run {
  run(input: { language: "python", code: "for i in range(3):\\n    print(i)" }) { id status }
}

# Paste the run's id: the output arrives event by event.
subscription Events($runId: ID!) {
  runEvents(runId: $runId) { seq type text run { status exitCode } }
}
`;

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL fetcher={fetcher} defaultQuery={defaultQuery} defaultHeaders={defaultHeaders} />,
);
