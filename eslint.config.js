// ESLint 9 flat config for the whole workspace (run from the repo root: `npx eslint libs apps`).
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Runtime/model code the API must never load (it only enqueues; workers run the graphs). */
const API_BANNED = ['onnxruntime-node', '@blip-jobs/med-model'];
const apiBannedMessage =
  'apps/api must not load a model runtime: onnxruntime-node and @blip-jobs/med-model belong in apps/gpu-worker.';
const apiBannedRegex = '^(onnxruntime-node|@blip-jobs/med-model)(/.*)?$';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/coverage/**', '**/.nx/**', '**/tmp/**', 'models/**'],
  },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs', '**/*.cjs', '**/*.mts', '**/*.cts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          // The API's typed client (createBlipClient + the AppRouter type) is its public contract:
          // the e2e tests, benchmarks and the CLI import it; nothing else of an app is importable.
          allow: ['@blip-jobs/api/client'],
          depConstraints: [
            { sourceTag: 'type:lib', notDependOnLibsWithTags: ['type:app', 'type:e2e', 'type:tool'] },
            {
              sourceTag: 'scope:api',
              onlyDependOnLibsWithTags: ['scope:shared'],
              bannedExternalImports: ['onnxruntime-node', 'onnxruntime-*'],
            },
            { sourceTag: 'scope:worker', onlyDependOnLibsWithTags: ['scope:shared', 'scope:model', 'scope:capfilt'] },
            { sourceTag: 'scope:model', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:capfilt', onlyDependOnLibsWithTags: ['scope:model', 'scope:shared'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:demo', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:infra', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['*'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Tests and benchmarks may poke at untyped JSON and index fixtures they just built.
    files: ['**/*.test.ts', 'test/**/*.ts', '**/tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Second line of defence besides enforce-module-boundaries, which only sees static imports of
    // projects it knows: this also catches type-only imports, dynamic import() and require().
    files: ['apps/api/**/*.{ts,tsx,js,mjs,cjs,mts,cts}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: API_BANNED.map((name) => ({ name, message: apiBannedMessage })),
          patterns: [{ group: API_BANNED.map((n) => `${n}/*`), message: apiBannedMessage }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: `ImportExpression[source.value=/${apiBannedRegex.replaceAll('/', '\\/')}/]`,
          message: apiBannedMessage,
        },
        {
          selector: `CallExpression[callee.name='require'][arguments.0.value=/${apiBannedRegex.replaceAll('/', '\\/')}/]`,
          message: apiBannedMessage,
        },
      ],
    },
  },
);
