/**
 * Gate for tests that need something the set-up provides (the built CLI, which `npm test`'s
 * bootstrap builds). When it is missing they skip with a loud warning naming it and how to get
 * it; under CI a missing prerequisite is a failure, so CI can never pass with them left out.
 */
export function whenPresent(what: string, present: boolean, howToGetIt: string, gate: jest.It = test): jest.It {
  if (present) return gate;
  if (process.env.CI) throw new Error(`CI must run ${what}, but it is missing: ${howToGetIt}`);
  console.warn(`\n!!! SKIPPING ${what}: missing (${howToGetIt})\n`);
  return test.skip;
}
