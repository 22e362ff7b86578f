/**
 * Community ID v1 against the published vectors: the spec's baseline (community-id-spec
 * baseline logs, as used by the reference implementations) and Zeek's community_id_v1 tests.
 */
import { communityIdV1 } from '../src/flow/communityId';
import { formatIp, parseIp } from '../src/flow/addresses';

function cid(proto: number, src: string, dst: string, sport: number, dport: number, seed = 0): string {
  const s = parseIp(src);
  const d = parseIp(dst);
  if (!s || !d) throw new Error(`bad address ${src} ${dst}`);
  return communityIdV1(proto, s.bytes, d.bytes, sport, dport, seed);
}

describe('Community ID v1', () => {
  const vectors: [string, number, string, string, number, number, number, string][] = [
    // spec baseline (seed 0 and 1)
    ['tcp', 6, '128.232.110.120', '66.35.250.204', 34855, 80, 0, '1:LQU9qZlK+B5F3KDmev6m5PMibrg='],
    ['tcp reverse', 6, '66.35.250.204', '128.232.110.120', 80, 34855, 0, '1:LQU9qZlK+B5F3KDmev6m5PMibrg='],
    // (1:vTdrng... is the rust community-id crate's documented UDP example, not a seed-1 TCP vector)
    ['udp 4242 -> dns', 17, '192.168.1.42', '8.8.8.8', 4242, 53, 0, '1:vTdrngJjlP5eZ9mw9JtnKyn99KM='],
    ['udp dns', 17, '192.168.1.52', '8.8.8.8', 54585, 53, 0, '1:d/FP5EW3wiY1vCndhwleRRKHowQ='],
    ['icmp echo', 1, '192.168.0.89', '192.168.0.1', 8, 0, 0, '1:X0snYXpgwiv9TZtqg64sgzUn6Dk='],
    ['icmp echo reply', 1, '192.168.0.1', '192.168.0.89', 0, 8, 0, '1:X0snYXpgwiv9TZtqg64sgzUn6Dk='],
    ['icmp one-way (type 20 code 1)', 1, '192.168.0.89', '192.168.0.1', 20, 1, 0, '1:tz/fHIDUHs19NkixVVoOZywde+I='],
    ['icmpv6 neighbor solicitation', 58, 'fe80::200:86ff:fe05:80da', 'fe80::260:97ff:fe07:69ea', 135, 0, 0,
      '1:dGHyGvjMfljg6Bppwm3bg0LO8TY='],
    ['icmpv6 neighbor advertisement', 58, 'fe80::260:97ff:fe07:69ea', 'fe80::200:86ff:fe05:80da', 136, 0, 0,
      '1:dGHyGvjMfljg6Bppwm3bg0LO8TY='],
    ['icmpv6 one-way (type 3)', 58, '3ffe:507:0:1:200:86ff:fe05:80da', '3ffe:507:0:1:260:97ff:fe07:69ea', 3, 0, 0,
      '1:/OGBt9BN1ofenrmSPWYicpij2Vc='],
    ['icmpv6 neighbor solicitation seed 1', 58, 'fe80::200:86ff:fe05:80da', 'fe80::260:97ff:fe07:69ea', 135, 0, 1,
      '1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY='],
    // Zeek's testing/btest/bifs/community_id
    ['zeek tcp', 6, '1.2.3.4', '5.6.7.8', 1122, 3344, 0, '1:wCb3OG7yAFWelaUydu0D+125CLM='],
    ['zeek udp', 17, '1.2.3.4', '5.6.7.8', 1122, 3344, 0, '1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg='],
    ['zeek icmp', 1, '1.2.3.4', '5.6.7.8', 8, 0, 0, '1:crodRHL2FEsHjbv3UkRrfbs4bZ0='],
    ['zeek icmpv6 echo', 58, 'fe80:0001:0203:0405:0607:0809:0A0B:0C0D', 'fe80:1011:1213:1415:1617:1819:1A1B:1C1D', 128, 129, 0,
      '1:0bf7hyMJUwt3fMED7z8LIfRpBeo='],
    ['zeek tcp seed 1', 6, '1.2.3.4', '5.6.7.8', 1122, 3344, 1, '1:HhA1B+6CoLbiKPEs5nhNYN4XWfk='],
    ['zeek udp seed 1', 17, '1.2.3.4', '5.6.7.8', 1122, 3344, 1, '1:OShq+iKDAMVouh/4bMxB9Sz4amw='],
    ['zeek icmp seed 1', 1, '1.2.3.4', '5.6.7.8', 8, 0, 1, '1:9pr4ZGTICiuZoIh90RRYE2RyXpU='],
    ['rsvp (no ports)', 46, '1.2.3.4', '5.6.7.8', 0, 0, 0, '1:ikv3kmf89luf73WPz1jOs49S768='],
  ];
  it.each(vectors)('%s', (_name, proto, src, dst, sport, dport, seed, expected) => {
    expect(cid(proto, src, dst, sport, dport, seed)).toBe(expected);
  });
});

describe('address text', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['fe80:0001:0203:0405:0607:0809:0A0B:0C0D', 'fe80:1:203:405:607:809:a0b:c0d'],
    ['::1', '::1'],
    ['2001:db8::', '2001:db8::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
  ])('%s -> %s', (input, canonical) => {
    const ip = parseIp(input);
    expect(ip).toBeDefined();
    expect(formatIp(ip!.bytes, ip!.version)).toBe(canonical);
  });
  it('rejects garbage', () => {
    expect(parseIp('1.2.3')).toBeUndefined();
    expect(parseIp('fe80:::1')).toBeUndefined();
  });
});
