import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.object.name=/^(it|describe|test)$/][callee.property.name='only']",
        message: '.only must not be committed',
      }],
    },
  },
  {
    // The planner is pure: time, randomness and the environment are injected.
    files: ['src/engine/plan/**/*.ts', 'src/model/**/*.ts', 'src/connectors/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error',
        { object: 'process', property: 'env', message: 'Connectors and the model never read the environment; pass settings in.' },
      ],
    },
  },
  {
    files: ['src/engine/plan/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Use the injected clock.' },
        { object: 'Math', property: 'random', message: 'Use the injected rng.' },
      ],
    },
  },
);
