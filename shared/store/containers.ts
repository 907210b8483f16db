import { PartitionKeyDefinitionVersion, PartitionKeyKind, type ContainerDefinition, type CosmosClient, type Database } from '@azure/cosmos';

/** The containers Switchyard uses. In Azure, infra/ creates them (data-plane RBAC cannot); locally, start-up does. */
export const containerDefinitions = {
  catalog: { id: 'catalog', partitionKey: { paths: ['/type'], version: PartitionKeyDefinitionVersion.V2 } },
  /** One document per request; in Azure it carries a TTL (infra/), the rollups keep the sums. */
  usage: {
    id: 'usage',
    partitionKey: { paths: ['/team', '/day'], kind: PartitionKeyKind.MultiHash, version: PartitionKeyDefinitionVersion.V2 },
  },
  /** Pre-aggregated sums per (team, day, alias, deployment, kind): what /usage reads. */
  rollups: {
    id: 'rollups',
    partitionKey: { paths: ['/team', '/day'], kind: PartitionKeyKind.MultiHash, version: PartitionKeyDefinitionVersion.V2 },
  },
  /** Stored Responses (`store: true`), read by id within the team that created them; they expire after 30 days. */
  responses: { id: 'responses', partitionKey: { paths: ['/team'], version: PartitionKeyDefinitionVersion.V2 }, defaultTtl: 30 * 86400 },
  /** Management changes, appended and never updated; partitioned by UTC month so a date range reads a few partitions. */
  /** Every version of each deployment, route and team, one partition per document (`deployment/<id>`, `route/<alias>`, `team/<id>`). */
  versions: { id: 'versions', partitionKey: { paths: ['/doc'], version: PartitionKeyDefinitionVersion.V2 } },
  audit: { id: 'audit', partitionKey: { paths: ['/month'], version: PartitionKeyDefinitionVersion.V2 } },
  /** Requests copied to a route's shadow deployment, side by side with the primary; per alias, kept 30 days. */
  shadow: { id: 'shadow', partitionKey: { paths: ['/alias'], version: PartitionKeyDefinitionVersion.V2 }, defaultTtl: 30 * 86400 },
  /**
   * Deployment health shared across instances: one small document per deployment, all in one logical partition
   * (`deployments`), read by one query per sync. A deployment deleted from the catalog leaves its document to expire.
   */
  live: { id: 'live', partitionKey: { paths: ['/scope'], version: PartitionKeyDefinitionVersion.V2 }, defaultTtl: 3600 },
  /** Budgets (one document per team and UTC month) and rate-limit windows (per team and minute, expiring by their own TTL). */
  quotas: { id: 'quotas', partitionKey: { paths: ['/team'], version: PartitionKeyDefinitionVersion.V2 }, defaultTtl: -1 },
  /** Managed compute allocated by the hour: one document per (deployment, hour), replaced whole; per UTC month. */
  allocations: { id: 'allocations', partitionKey: { paths: ['/month'], version: PartitionKeyDefinitionVersion.V2 } },
} satisfies Record<string, ContainerDefinition>;

export type ContainerName = keyof typeof containerDefinitions;

export async function ensureContainers(client: CosmosClient, databaseId: string): Promise<Database> {
  const { database } = await client.databases.createIfNotExists({ id: databaseId });
  // All at once: local mode creates them on every start, and one after another their round trips added up.
  await Promise.all(Object.values(containerDefinitions).map((definition) => database.containers.createIfNotExists(definition)));
  return database;
}

/** Cosmos SDK errors carry the HTTP status in `code`. */
export function cosmosStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

// Node's and undici's codes for a connection that could not be made or was lost.
const NETWORK_CODE = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

/**
 * What a Cosmos SDK failure says about the store: `refused` when it answered 401/403 (the key or identity is
 * wrong, or lacks its data role), `unreachable` for any other answer, a timeout or a network error; undefined
 * when the error did not come from talking to the store (a bug, a credential library error).
 */
export function storeFailureKind(error: unknown): 'refused' | 'unreachable' | undefined {
  const { name, code, statusCode } = (error ?? {}) as { name?: unknown; code?: unknown; statusCode?: unknown };
  const status = cosmosStatus(error) ?? (typeof statusCode === 'number' ? statusCode : undefined);
  if (status === 401 || status === 403) return 'refused';
  if (status !== undefined) return 'unreachable';
  if (name === 'RestError' || name === 'TimeoutError' || (typeof code === 'string' && NETWORK_CODE.test(code))) return 'unreachable';
  return undefined;
}
