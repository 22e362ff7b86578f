/**
 * Strings many flows share (endpoint names, domains), kept once and referred to by a small
 * integer index, so a flow stores 4 bytes per string in a typed array instead of a pointer in
 * a JS array. Reference counted: a string is dropped when the last flow using it ends, so the
 * table never holds more than the live flows use. Index 0 is always ''.
 */
export class SharedStrings {
  private readonly indexOf = new Map<string, number>();
  private readonly strings: string[] = [''];
  private readonly refs: number[] = [0];
  private readonly freeIndexes: number[] = [];

  /** The index of `s`, counting one more user. */
  acquire(s: string): number {
    if (s === '') return 0;
    let i = this.indexOf.get(s);
    if (i === undefined) {
      i = this.freeIndexes.length > 0 ? (this.freeIndexes.pop() as number) : this.strings.length;
      this.strings[i] = s;
      this.refs[i] = 0;
      this.indexOf.set(s, i);
    }
    this.refs[i]++;
    return i;
  }

  /** One user of index `i` is gone. */
  release(i: number): void {
    if (i === 0 || --this.refs[i] > 0) return;
    this.indexOf.delete(this.strings[i]);
    this.strings[i] = '';
    this.freeIndexes.push(i);
  }

  get(i: number): string {
    return this.strings[i];
  }

  /** Distinct strings in use (besides ''). */
  get size(): number {
    return this.indexOf.size;
  }
}
