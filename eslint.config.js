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
        { selector: "ExportAllDeclaration", message: "Use explicit named exports (STYLE.md)." },
      ],
    },
  },
  {
    // Only the composition root reads the environment (STYLE.md house rule 3).
    files: ["src/**/*.ts"],
    ignores: ["src/cli.ts"],
    rules: {
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "Read process.env only in src/cli.ts." }],
    },
  },
);
