// Submit a Python program to a problem on coderunner and print each test's
// verdict as it is graded, the way the in-browser editor's Submit button
// does. Only a signed-in user may submit.
//
//   npm ci
//   CODERUNNER_USER=name:password node submit.mjs [API_URL] PROBLEM_ID CODE
//
// API_URL defaults to http://localhost:8080/graphql.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.argv[2] ?? 'http://localhost:8080/graphql';
const [problemId, code] = process.argv.slice(3);
if (!problemId || code === undefined || !process.env.CODERUNNER_USER) {
  console.error('usage: CODERUNNER_USER=name:password node submit.mjs [API_URL] PROBLEM_ID CODE');
  process.exit(2);
}

let token;
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

const [name, password] = process.env.CODERUNNER_USER.split(/:(.*)/s);
({ signIn: { token } } = await graphql(
  `mutation SignIn($name: String!, $password: String!) { signIn(name: $name, password: $password) { token } }`,
  { name, password },
));

// submit returns at once, QUEUED; the verdicts arrive over the subscription.
const { submit } = await graphql(
  `mutation Submit($problem: ID!, $code: String!) { submit(problemId: $problem, code: $code) { id status total } }`,
  { problem: problemId, code },
);
console.log(`submission ${submit.id} ${submit.status}: ${submit.total} tests`);

// As with runEvents, keep the last seq: a client that reconnects passes it
// as afterSeq and misses nothing.
const client = createClient({
  url: url.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: () => ({ authorization: `Bearer ${token}` }),
});
let lastSeq = 0;
const events = client.iterate({
  query: `subscription Verdicts($id: ID!, $after: Int!) {
    submissionEvents(submissionId: $id, afterSeq: $after) {
      seq type
      test { index sample verdict cpuMs hint diff }
      submission { verdict passed total score problem { myProgress { solved attempts } } }
    }
  }`,
  variables: { id: submit.id, after: lastSeq },
});
try {
  for await (const result of events) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const event = result.data.submissionEvents;
    lastSeq = event.seq;
    if (event.type === 'TEST_FINISHED') {
      const { index, sample, verdict, cpuMs, hint, diff } = event.test;
      console.log(`test ${index + 1} (${sample ? 'sample' : 'hidden'}): ${verdict} in ${cpuMs} ms`);
      if (diff) console.log(diff.replace(/^/gm, '    '));
      if (hint) console.log(`    hint: ${hint}`);
    } else if (event.type === 'FINISHED') {
      const s = event.submission;
      const progress = s.problem?.myProgress;
      console.log(`FINISHED ${s.verdict} ${s.passed}/${s.total} (${s.score}%)` +
        (progress ? `; solved: ${progress.solved}, attempts: ${progress.attempts}` : ''));
    }
  }
} finally {
  await client.dispose();
}
