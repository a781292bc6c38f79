// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "dist-bench/", "node_modules/", "coverage/", "test-output/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-syntax": [
        "error",
        { selector: "ExportAllDeclaration", message: "Re-export names explicitly (export { a } from ...), not with export *: a module's public names stay listed." },
      ],
    },
  },
  {
    // Only the composition root reads the environment: no module does I/O or reads settings when
    // imported, and tests pass settings in.
    files: ["src/**/*.ts"],
    ignores: ["src/cli.ts"],
    rules: {
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "Read process.env only in src/cli.ts." }],
    },
  },
);
