/** Why a file was not turned into an image. `reason` is written for the person who imported it. */
export type RefusalCode =
  | "empty"
  | "too_large"
  | "unknown_format"
  | "not_dicom"
  | "corrupt"
  | "truncated"
  | "too_many_pixels"
  | "unsupported_transfer_syntax"
  | "unsupported_photometric"
  | "unsupported_pixel_format";

export class ImageRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    readonly reason: string,
  ) {
    super(reason);
    this.name = "ImageRefusal";
  }
}

export function isImageRefusal(err: unknown): err is ImageRefusal {
  return err instanceof ImageRefusal;
}

/** Best-effort message of something thrown by a third-party decoder (some throw strings). */
export function thrownMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "string") return err;
  return String(err);
}
