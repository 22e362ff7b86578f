/** The flow table's reference-counted string table: shared indexes, '' free, strings dropped with their last user. */
import { SharedStrings } from '../src/flowtable/sharedStrings';

describe('SharedStrings', () => {
  it('gives one index per distinct string, 0 for the empty string, and drops a string with its last user', () => {
    const s = new SharedStrings();
    expect(s.acquire('')).toBe(0);
    const a = s.acquire('laptop');
    const b = s.acquire('example.com');
    expect(s.acquire('laptop')).toBe(a);
    expect(a).not.toBe(b);
    expect([s.get(a), s.get(b), s.get(0)]).toEqual(['laptop', 'example.com', '']);
    expect(s.size).toBe(2);
    s.release(a);
    expect(s.get(a)).toBe('laptop'); // one user left
    s.release(a);
    s.release(0);
    expect(s.size).toBe(1);
    const c = s.acquire('gw-paris'); // reuses the freed index
    expect(c).toBe(a);
    expect(s.get(c)).toBe('gw-paris');
    s.release(b);
    s.release(c);
    expect(s.size).toBe(0);
  });
});
