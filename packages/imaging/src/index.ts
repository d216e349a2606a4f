export * from "./decode";
export {
  decodeDicom,
  hasDicmMarker,
  speciesFromText,
  TRANSFER_SYNTAX_NAMES,
  transferSyntaxLabel,
} from "./dicom";
export * from "./normalize";
export * from "./refusal";
