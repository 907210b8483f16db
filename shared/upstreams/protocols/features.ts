/**
 * What a deployment honours beyond plain chat (PRODUCT.md `features`). A request that uses one is planned only
 * onto deployments that honour it. `stop` and `seed` are here because the managed `/score` contract has no
 * parameter for them (AZURE.md §3.3): a protocol that cannot forward a field must not be sent a request using it.
 */
export const featureNames = [
  'tools',
  'structured-output',
  'vision',
  'logprobs',
  'multiple-choices',
  'reasoning',
  'responses',
  'stop',
  'seed',
] as const;
export type Feature = (typeof featureNames)[number];
