export * from "./audit";
export * from "./datasets";
export * from "./enums";
export * from "./images";
export * from "./labels";
export * from "./models";
export * from "./scoring";
export * from "./users";
