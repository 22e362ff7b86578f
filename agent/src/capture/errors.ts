/** The error every capture-file reader throws for a file it cannot read (or read further). */

/** Names the file, the byte offset (when known) and what is wrong. */
export class CaptureFileError extends Error {
  readonly file: string;
  /** Byte offset of the problem, when known. */
  readonly offset: number | undefined;
  constructor(file: string, detail: string, offset?: number, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'CaptureFileError';
    this.file = file;
    this.offset = offset;
  }
}
