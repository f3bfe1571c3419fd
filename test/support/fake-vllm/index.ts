export * from "./server.js";
export * from "./script.js";
