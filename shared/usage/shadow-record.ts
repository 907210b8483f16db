/** One side of a shadowed request: the deployment that answered the caller, or the candidate that got the copy. */
export type ShadowSide = {
  deployment: string;
  /** From the call's start to its whole answer (a streamed primary: to its last event). */
  latencyMs: number;
  /** A streamed primary's time to first event; absent for whole answers. */
  ttftMs?: number;
  inputTokens: number;
  outputTokens: number;
  /** What the tokens cost at the deployment's list price, exact as whole micro-dollars plus pico-dollars. */
  costMicroUsd: number;
  costRemainderPicoUsd: number;
  ok: boolean;
  /** Why the shadow call failed. */
  error?: string;
  /** The shadow's chat answer text, cut to a few KB. */
  answer?: string;
};

/** A request copied to a route's shadow deployment, side by side with what the caller got. Never billed to a team. */
export type ShadowRecord = {
  id: string;
  alias: string;
  team: string;
  operation: 'chat' | 'embeddings';
  /** UTC day and instant of the caller's request. */
  day: string;
  ts: string;
  primary: ShadowSide;
  shadow: ShadowSide;
};
