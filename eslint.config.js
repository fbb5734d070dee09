// Type-aware lint: device I/O is all promises, so floating promises are errors.
import { dirname, relative, resolve, sep } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * The seams of src/ (issue 13): which top folder may import which. Dependencies point one way:
 *
 *   cli → (runner, doctor, inspect) → scenario → (ui, capture) → detect → decode
 *   report holds the run folder's contract (report/run-folder.ts): runner writes it, report reads it
 *   config, device, util are low: anyone may import them; util imports nothing of ours, device only util
 *   virtual (the virtual lab) is separate: only cli (and test support) import it, and it imports nothing
 *
 * An entry is a top folder or one file in it ('scenario/types.ts': report may read scenario types,
 * not the executor). A folder may always import itself. The check resolves each relative specifier
 * against the importing file, rather than matching folder names as no-restricted-imports patterns do,
 * because such patterns match folder names anywhere (src/virtual/ once had its own ui/ and adb/).
 */
const LOW = ['config', 'device', 'util'];
const SEAMS = {
  cli: '*',
  runner: ['doctor', 'report', 'scenario', 'ui', 'capture', 'detect', 'decode', ...LOW],
  // doctor and runner are one layer: the doctor probes phones as the runner resolves them.
  doctor: ['runner', 'report', 'scenario', 'ui', 'capture', 'detect', 'decode', ...LOW],
  // inspect is the `phonehome inspect` command's input readers, formatting and options, beside cli.
  inspect: ['capture', 'detect', 'decode', ...LOW],
  scenario: ['report/run-folder.ts', 'ui', 'capture', 'detect', 'decode', ...LOW],
  ui: ['detect', 'decode', ...LOW],
  capture: ['detect', 'decode', ...LOW],
  detect: ['decode', ...LOW],
  decode: [...LOW],
  report: ['scenario/types.ts', 'config', 'device', 'util'],
  config: ['device', 'util'],
  device: ['util'],
  util: [],
  virtual: [],
};

/** Single edges that break the seams today, each with why (a `temporary` one is allowed while a move is under way). */
const SEAM_EXCEPTIONS = []; // none today

const SRC = resolve(import.meta.dirname, 'src');

/** 'runner/run.ts' for a path in src/ ('main.ts' for one at its root), undefined outside it. */
function inSrc(path) {
  const rel = relative(SRC, path);
  if (rel.startsWith('..') || rel === '') return undefined;
  return rel.split(sep).join('/');
}

const seamsRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports in src/ follow the layers (the SEAMS table in eslint.config.js)' },
    schema: [],
    messages: {
      backEdge:
        'src/{{from}} may not import src/{{to}}: {{fromTop}}/ may import {{allowed}} ' +
        '(the seams: SEAMS in eslint.config.js)',
      // A file outside the table would be checked against nothing: place it, or give its folder a row.
      unplaced:
        'src/{{from}} is in no layer: put it in a folder of the SEAMS table in eslint.config.js, ' +
        'or add a row for {{fromTop}}/ there (and a line in the README layout)',
    },
  },
  create(context) {
    const from = inSrc(context.filename);
    if (!from) return {};
    const fromTop = from.split('/')[0];
    const allowed = from.includes('/') ? SEAMS[fromTop] : undefined;
    if (allowed === undefined)
      return { Program: (node) => context.report({ node, messageId: 'unplaced', data: { from, fromTop } }) };
    if (allowed === '*') return {};
    function check(node, spec) {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = inSrc(resolve(dirname(context.filename), spec));
      if (!to) return;
      const toTop = to.split('/')[0];
      if (toTop === fromTop) return;
      if (allowed.some((a) => a === toTop || a === to)) return;
      if (SEAM_EXCEPTIONS.some((e) => e.from === from && e.to === to)) return;
      context.report({
        node,
        messageId: 'backEdge',
        data: {
          from,
          to,
          fromTop,
          allowed: allowed.length ? `only ${allowed.join(', ')}` : 'nothing outside itself',
        },
      });
    }
    return {
      ImportDeclaration: (n) => check(n.source, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n.source, n.source.value),
      ExportAllDeclaration: (n) => check(n.source, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n.source, n.source.value),
      // `import('../ui/driver.ts').UiDriver` in a type position.
      TSImportType: (n) => n.argument.type === 'TSLiteralType' && check(n.argument, n.argument.literal.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'reports/', 'dist/', '.phonehome/', 'test/support/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { phonehome: { rules: { seams: seamsRule } } },
    rules: {
      'phonehome/seams': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: { process: 'readonly', require: 'readonly', module: 'writable', console: 'readonly' },
    },
  },
);

// For test/unit/lint/seams.test.ts (ESLint reads only the default export).
export { SEAMS, SEAM_EXCEPTIONS };
