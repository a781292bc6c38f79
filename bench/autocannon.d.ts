/** autocannon ships no types; the benchmark uses one call, typed where it is used (load.ts). */
declare module "autocannon";
