// Run a Python program on coderunner and print its output as it is
// produced, the way the in-browser editor does.
//
//   npm ci
//   [CODERUNNER_USER=name:password] node run.mjs [API_URL] [CODE] [INPUT]
//
// API_URL defaults to http://localhost:8080/graphql. INPUT, if given, is
// typed into the program (sendInput) once it has started. With
// CODERUNNER_USER the program runs as that user (signIn first), else as a
// guest.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.argv[2] ?? 'http://localhost:8080/graphql';
const code = process.argv[3] ?? 'print("hi")';
const input = process.argv[4];

// A signed-in client sends its token with every request: in the
// Authorization header over HTTP, and in connection_init over a WebSocket.
let token;

// Queries and mutations are plain HTTP POSTs.
async function graphql(query, variables) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors) {
    throw new Error(body.errors.map((e) => `${e.extensions?.code}: ${e.message}`).join('; '));
  }
  return body.data;
}

if (process.env.CODERUNNER_USER) {
  const [name, password] = process.env.CODERUNNER_USER.split(/:(.*)/s);
  const { signIn } = await graphql(
    `mutation SignIn($name: String!, $password: String!) {
      signIn(name: $name, password: $password) { token user { name role quota { runsToday runsPerDay } } }
    }`,
    { name, password },
  );
  token = signIn.token;
  const { user } = signIn;
  console.log(`signed in as ${user.name} (${user.role}), ${user.quota.runsToday} of ${user.quota.runsPerDay} runs used today`);
}

const { run } = await graphql(
  `mutation Run($code: String!) { run(input: { language: "python", code: $code }) { id status } }`,
  { code },
);
console.log(`run ${run.id} ${run.status}`);

// Subscriptions go over a WebSocket (graphql-transport-ws). A client that
// loses its connection subscribes again with the last seq it saw and gets
// every event once: keep lastSeq and pass it as afterSeq.
const client = createClient({
  url: url.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
});
let lastSeq = 0;
const events = client.iterate({
  query: `subscription Events($id: ID!, $after: Int!) {
    runEvents(runId: $id, afterSeq: $after) { seq type text run { status exitCode wallMs } }
  }`,
  variables: { id: run.id, after: lastSeq },
});
try {
  for await (const result of events) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const event = result.data.runEvents;
    lastSeq = event.seq;
    switch (event.type) {
      case 'STARTED':
        if (input !== undefined) {
          await graphql(`mutation Input($id: ID!, $text: String!) { sendInput(runId: $id, text: $text) }`, {
            id: run.id,
            text: input + '\n',
          });
        }
        break;
      case 'STDOUT':
        process.stdout.write(event.text);
        break;
      case 'STDERR':
        process.stderr.write(event.text);
        break;
      case 'FINISHED':
        console.log(`FINISHED ${event.run.status} exit=${event.run.exitCode} wall=${event.run.wallMs}ms`);
        break;
    }
  }
} finally {
  await client.dispose();
}
