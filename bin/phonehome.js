#!/usr/bin/env node
// Runs the TypeScript sources through tsx's ESM loader; `tsc --noEmit` in CI guards the types.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
