#!/usr/bin/env node
// `npx blip` inside the repository: run the TypeScript sources through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
