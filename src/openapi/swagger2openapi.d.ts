/** The part of swagger2openapi (no types of its own) that load.ts uses: Swagger 2.0 → OpenAPI 3.0. */
declare module "swagger2openapi" {
  interface ConvertOptions {
    patch?: boolean;
    warnOnly?: boolean;
    resolve?: boolean;
  }
  interface ConvertResult {
    openapi: Record<string, unknown>;
  }
  export function convertObj(swagger: object, options: ConvertOptions): Promise<ConvertResult>;
}
