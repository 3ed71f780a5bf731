// ESLint: the recommended rules of ESLint and typescript-eslint, plus a few that
// keep the code honest. CI runs `npm run lint` and accepts no problem.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'bench-results/**', 'web/**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: globals.node },
    rules: {
      // `_name` marks a value left out on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
    },
  },
  {
    // The service logs through pino (structured, with camera/stage/code), never to the console.
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      // A function reads in one sitting, a file does one thing.
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // The operator page runs in the browser.
    files: ['web/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
);
