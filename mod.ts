export * from "./codec/mod.ts";
