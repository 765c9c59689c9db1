// Builds dist/ from src/ with esbuild: the editor app (dist/app) and
// GraphiQL (dist/graphiql), each with its page and the favicon. Run through scripts/web.sh, which installs the
// pinned packages first. The output must be byte-for-byte the same on every
// machine (CI rebuilds and compares), so nothing here may depend on time,
// paths or the environment: no source maps, no hashes of absolute paths.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';

const options = {
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  charset: 'utf8',
  // Licence comments go to a .LEGAL.txt beside each bundle.
  legalComments: 'external',
  define: { 'process.env.NODE_ENV': '"production"' },
  jsx: 'automatic',
  logLevel: 'warning',
};

await rm('dist', { recursive: true, force: true });
for (const [name, entry] of [['app', 'src/app/main.js'], ['graphiql', 'src/graphiql/main.jsx']]) {
  await mkdir(`dist/${name}`, { recursive: true });
  await esbuild.build({ ...options, entryPoints: { [name]: entry }, outdir: `dist/${name}` });
  await copyFile(`src/${name}/index.html`, `dist/${name}/index.html`);
  await copyFile('src/favicon.svg', `dist/${name}/favicon.svg`);
}
