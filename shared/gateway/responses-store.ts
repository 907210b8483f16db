import type { ResponseItem } from './responses-request.js';
import type { ResponseObject } from './responses-translation.js';

/** A stored Response: the conversation that led to it (every earlier turn's input and output, then its own input), and itself. */
export interface StoredResponse {
  id: string;
  team: string;
  input: ResponseItem[];
  response: ResponseObject;
}

/** Where stored Responses live, readable only within the team that created them. */
export interface ResponseStore {
  put(stored: StoredResponse): Promise<void>;
  /** The team's stored Response, or undefined when there is none by that id (or it is another team's). */
  get(team: string, id: string): Promise<StoredResponse | undefined>;
  /** Whether there was such a Response to delete. */
  delete(team: string, id: string): Promise<boolean>;
}

/** A Response id as Switchyard makes them; anything else names no stored Response. */
export const RESPONSE_ID = /^resp_[A-Za-z0-9]{1,64}$/;
