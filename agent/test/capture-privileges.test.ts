/**
 * Capture privileges: the capability set read from /proc/self/status, and the real agent
 * process started without CAP_NET_RAW (setpriv clears every capability, as an unprivileged
 * service user without the unit's AmbientCapabilities would have) exiting with a message that
 * names the missing capability. The packaged agent capturing with exactly CAP_NET_RAW +
 * CAP_NET_ADMIN is tested by deploy/test/package.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { CapturePermissionError, effectiveCapabilities, explainCaptureOpenError, missingCaptureCapabilities } from '../src/capture/privileges';
import { CLI, ensureCliBuilt } from './support/built-cli';
import { privileged } from './support/privileged';

const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\n`;
const NET_RAW = 1n << 13n;
const NET_ADMIN = 1n << 12n;

describe('capture capabilities', () => {
  it('reads the effective set and names the missing ones', () => {
    expect(effectiveCapabilities(status('0000000000003000'))).toBe(NET_RAW | NET_ADMIN);
    expect(missingCaptureCapabilities(NET_RAW | NET_ADMIN)).toEqual([]);
    expect(missingCaptureCapabilities(NET_ADMIN)).toEqual(['CAP_NET_RAW']);
    expect(missingCaptureCapabilities(0n)).toEqual(['CAP_NET_RAW', 'CAP_NET_ADMIN']);
    expect(missingCaptureCapabilities(undefined)).toEqual([]);
    expect(effectiveCapabilities('no capability lines')).toBeUndefined();
  });

  it('explains a refused capture by the missing capability and leaves other errors alone', () => {
    const refused = new Error("cannot capture on interface 'wg0': socket: Operation not permitted");
    const explained = explainCaptureOpenError(refused, 'wg0', NET_ADMIN);
    expect(explained).toBeInstanceOf(CapturePermissionError);
    expect((explained as Error).message).toMatch(/^cannot capture on interface 'wg0': missing capability CAP_NET_RAW \(opening the packet capture\);.*AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN/);
    expect((explained as Error).message).not.toMatch(/CAP_NET_ADMIN \(/);
    expect((explainCaptureOpenError(refused, 'wg0', 0n) as Error).message).toMatch(/missing capability CAP_NET_RAW \(.*\) and CAP_NET_ADMIN \(reading kernel WireGuard peers/);
    expect((explainCaptureOpenError(refused, 'wg0', NET_RAW | NET_ADMIN) as Error).message).toMatch(/permission denied although CAP_NET_RAW is effective: a sandbox refuses packet sockets/);
    const noDevice = new Error("cannot capture on interface 'wg9': No such device exists");
    expect(explainCaptureOpenError(noDevice, 'wg9', 0n)).toBe(noDevice);
  });
});

privileged('the capability-less agent process test').describe('flowmesh-agent run without capabilities', () => {
  beforeAll(() => ensureCliBuilt(), 120_000);

  /** The agent as root but with empty capability sets (bounding set too, so exec grants none). */
  function runWithCapabilities(caps: string) {
    const set = caps ? `-all,${caps}` : '-all';
    return spawnSync(
      'setpriv',
      [`--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, process.execPath, CLI, 'run', '--interface', 'lo', '--jsonl', '/dev/null'],
      { encoding: 'utf8', timeout: 30_000 },
    );
  }

  it('exits 2 naming CAP_NET_RAW (and CAP_NET_ADMIN) when it has neither', () => {
    const r = runWithCapabilities('');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot capture on interface 'lo': missing capability CAP_NET_RAW \(opening the packet capture\) and CAP_NET_ADMIN/);
  });

  it('names only CAP_NET_RAW when it has CAP_NET_ADMIN', () => {
    const r = runWithCapabilities('+net_admin');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/missing capability CAP_NET_RAW \(opening the packet capture\);/);
  });
});
