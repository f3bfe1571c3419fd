export * from "./server.js";
export * from "./script.js";
export * from "./capacity.js";
