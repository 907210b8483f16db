import type { Feature } from './features.js';
import type { ChatMessageLike } from '../../usage/count-tokens.js';
import type { TokenUsage } from '../../usage/extract-usage.js';
import type { UpstreamCredential } from '../upstream-port.js';

/** What a protocol room reads of a deployment: where it is and which model it runs. */
export interface UpstreamTarget {
  endpoint: string;
  upstreamModel: string;
  apiVersion?: string | undefined;
  /** The dated api-version the caller named on an Azure OpenAI path; where the protocol takes one, it wins over `apiVersion`. */
  callerApiVersion?: string | undefined;
  /** Where this endpoint differs from its protocol's usual wire (the deployment document's `upstream`). */
  upstream?: UpstreamSwitches | undefined;
}

/** Per-deployment differences of a real endpoint; each left out keeps the protocol's usual behaviour. */
export interface UpstreamSwitches {
  /** `false`: never send `stream_options` (Foundry's older model-inference API refuses it); a stream's usage is then estimated. */
  streamOptions?: boolean | undefined;
  /** Fixed headers set by ops, sent on every call (never the caller's). */
  headers?: Record<string, string> | undefined;
  /** The Azure ML deployment inside a managed online endpoint, sent as `azureml-model-deployment`. */
  amlDeployment?: string | undefined;
}

/** A chat request as the caller sent it (OpenAI chat completions), checked by the use case. */
export interface ChatBody {
  [field: string]: unknown;
  messages: readonly ChatMessageLike[];
  stream?: boolean | undefined;
  stream_options?: { [field: string]: unknown; include_usage?: boolean | undefined } | null | undefined;
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
}

/** An embeddings request as the caller sent it (OpenAI embeddings). */
export interface EmbeddingsBody {
  [field: string]: unknown;
  input: string | readonly string[] | readonly number[] | readonly (readonly number[])[];
}

/** What a room builds for one call; the table adds content type, accept and the credential. */
export interface ProtocolRequest {
  url: string;
  body: unknown;
  headers?: Record<string, string>;
  /** Whether the upstream will answer with an SSE stream. */
  streams: boolean;
}

/** Token counts as metered: reported by the upstream, or `estimated` by Switchyard's tokenizer. */
export interface MeteredUsage extends TokenUsage {
  estimated: boolean;
}

/** What reading a chat answer needs besides its bytes: the request, and Switchyard's clock and id source. */
export interface ChatContext {
  target: UpstreamTarget;
  request: ChatBody;
  now: () => number;
  newId: () => string;
}

/** A whole answer in the shape the use cases relay: the OpenAI JSON the caller gets, and its usage. */
export interface Answered {
  json: string;
  usage: MeteredUsage;
}

/** Reads an upstream SSE stream as it arrives, turning it into OpenAI chat-completion-chunk events. */
export interface ChatStreamReader {
  /** The bytes to forward for this upstream chunk: whole events only (a partial event waits for its end). */
  push(chunk: Uint8Array): Uint8Array[];
  /** Whether the upstream has said the answer is complete (`[DONE]`). */
  readonly complete: boolean;
  /** The stream's usage: as the upstream reported it, else estimated from what passed so far. */
  usage(): MeteredUsage;
}

export interface ChatProtocol {
  /** The call for a chat request; `stream` is set only when the caller asked to stream and `streaming` exists. */
  request(target: UpstreamTarget, body: ChatBody, stream: boolean): ProtocolRequest;
  /** A non-streamed answer's body, as an OpenAI chat completion with its usage. Throws if it is unusable. */
  readAnswer(text: string, context: ChatContext): Answered;
  /**
   * Present when the upstream streams an answer itself; without it, a caller who asks to stream gets the
   * finished answer told as a stream.
   */
  streaming?: { reader(context: ChatContext): ChatStreamReader };
}

/** A Responses API request as the caller sent it, with any stored conversation already in its `input`. */
export interface ResponsesBody {
  [field: string]: unknown;
  input: unknown;
}

/** The Responses API spoken natively (deployments that declare the `responses` feature); its answers are OpenAI's own. */
export interface ResponsesProtocol {
  request(target: UpstreamTarget, body: ResponsesBody, stream: boolean): ProtocolRequest;
}

export interface EmbeddingsProtocol {
  request(target: UpstreamTarget, body: EmbeddingsBody): ProtocolRequest;
  /** The answer's body as OpenAI embeddings with its usage. Throws if it is unusable. */
  readAnswer(text: string, body: EmbeddingsBody): Answered;
}

/** One protocol: both directions of every operation it serves. An operation left out is one it does not serve. */
export interface ProtocolRoom {
  chat?: ChatProtocol;
  embeddings?: EmbeddingsProtocol;
  responses?: ResponsesProtocol;
  /** The features a deployment of this protocol honours when its document declares none. */
  defaultFeatures: readonly Feature[];
  /** Headers that carry a credential the way this protocol's endpoints read it. */
  authHeaders(credential: UpstreamCredential): Record<string, string>;
}

export type Operation = 'chat' | 'embeddings';
