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
} satisfies Record<string, ContainerDefinition>;

export type ContainerName = keyof typeof containerDefinitions;

export async function ensureContainers(client: CosmosClient, databaseId: string): Promise<Database> {
  const { database } = await client.databases.createIfNotExists({ id: databaseId });
  for (const definition of Object.values(containerDefinitions)) {
    await database.containers.createIfNotExists(definition);
  }
  return database;
}

/** Cosmos SDK errors carry the HTTP status in `code`. */
export function cosmosStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
