import type { Feature } from './features.js';
import type { UpstreamCredential, UpstreamRequest } from '../upstream-port.js';
import { amlScore } from './aml-score.js';
import { azureOpenai } from './azure-openai.js';
import { openai } from './openai.js';
import type {
  ChatBody,
  ChatProtocol,
  EmbeddingsBody,
  EmbeddingsProtocol,
  Operation,
  ProtocolRequest,
  ProtocolRoom,
  ResponsesBody,
  UpstreamTarget,
} from './protocol.js';

/** Every protocol Switchyard speaks. Adding one is its room and a line here; the catalog and use cases follow. */
const rooms = {
  openai,
  'azure-openai': azureOpenai,
  'aml-score': amlScore,
} satisfies Record<string, ProtocolRoom>;

export type ProtocolName = keyof typeof rooms;
export const protocolNames = Object.keys(rooms) as ProtocolName[];

/** A deployment as the protocols see it. */
export type ProtocolTarget = UpstreamTarget & { protocol: ProtocolName };

/** The operations a protocol serves, in table order. */
export function operationsServed(protocol: ProtocolName): Operation[] {
  const room: ProtocolRoom = rooms[protocol];
  return (['chat', 'embeddings'] as const).filter((operation) => room[operation] !== undefined);
}

/** The features a deployment of this protocol honours unless its document declares its own. */
export function defaultFeatures(protocol: ProtocolName): readonly Feature[] {
  return rooms[protocol].defaultFeatures;
}

export function chatProtocol(protocol: ProtocolName): ChatProtocol {
  const chat = rooms[protocol].chat;
  if (!chat) throw new Error(`the ${protocol} protocol serves no chat`);
  return chat;
}

export function embeddingsProtocol(protocol: ProtocolName): EmbeddingsProtocol {
  const embeddings: EmbeddingsProtocol | undefined = rooms[protocol].embeddings;
  if (!embeddings) throw new Error(`the ${protocol} protocol serves no embeddings`);
  return embeddings;
}

/** The upstream call for a chat request: streamed when the caller asked to and the upstream can. */
export function chatRequest(target: ProtocolTarget, body: ChatBody, credential: UpstreamCredential | undefined): UpstreamRequest {
  const chat = chatProtocol(target.protocol);
  const stream = body.stream === true && chat.streaming !== undefined;
  return forWire(target, chat.request(target, body, stream), credential);
}

/** Whether the protocol can carry the Responses API (a deployment still has to declare the `responses` feature). */
export function carriesResponses(protocol: ProtocolName): boolean {
  return rooms[protocol].responses !== undefined;
}

/** The upstream call for a Responses request to a deployment that speaks the Responses API. */
export function responsesRequest(target: ProtocolTarget, body: ResponsesBody, credential: UpstreamCredential | undefined): UpstreamRequest {
  const responses = rooms[target.protocol].responses;
  if (!responses) throw new Error(`the ${target.protocol} protocol speaks no Responses API`);
  return forWire(target, responses.request(target, body, body.stream === true), credential);
}

export function embeddingsRequest(
  target: ProtocolTarget,
  body: EmbeddingsBody,
  credential: UpstreamCredential | undefined,
): UpstreamRequest {
  return forWire(target, embeddingsProtocol(target.protocol).request(target, body), credential);
}

// The deployment's fixed extra headers go first, so nothing the protocol or the credential sets can be replaced by them.
function forWire(target: ProtocolTarget, built: ProtocolRequest, credential: UpstreamCredential | undefined): UpstreamRequest {
  const room: ProtocolRoom = rooms[target.protocol];
  return {
    url: built.url,
    headers: {
      ...target.upstream?.headers,
      'content-type': 'application/json',
      accept: built.streams ? 'text/event-stream' : 'application/json',
      ...built.headers,
      ...(credential ? room.authHeaders(credential) : {}),
    },
    body: JSON.stringify(built.body),
    streams: built.streams,
  };
}

export type * from './protocol.js';
