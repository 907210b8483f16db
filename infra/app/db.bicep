// Cosmos DB for NoSQL: the catalog, the per-request usage ledger and its rollups, stored Responses, versions, the audit.
// The app connects with Entra ID only, and data-plane RBAC cannot create databases or containers,
// so they are created here (control plane) to match shared/store/containers.ts.
param name string
param location string
param tags object = {}
param databaseName string

@description('Serverless bills per RU consumed (single region); ProvisionedAutoscale shares autoscale throughput across the database.')
@allowed(['Serverless', 'ProvisionedAutoscale'])
param capacityMode string = 'Serverless'

@description('Autoscale ceiling for the database when capacityMode is ProvisionedAutoscale (minimum 1000).')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Days a usage record is kept (its rollups stay); 0 keeps them forever.')
@minValue(0)
param usageTtlDays int = 90

@description('Days a stored Response (/v1/responses with store: true) is kept.')
@minValue(1)
param responsesTtlDays int = 30

var serverless = capacityMode == 'Serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: { tier: 'Continuous7Days' }
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
    // Serverless accounts reject any throughput setting.
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

// Deployments, routes, teams, keys: few documents, read by type.
resource catalog 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'catalog'
  properties: {
    resource: {
      id: 'catalog'
      partitionKey: { paths: ['/type'], kind: 'Hash', version: 2 }
    }
  }
}

// One document per request, written in bulk and never updated: index only what a report may filter on,
// which keeps the write cost near the minimum. Old records expire; the rollups keep the sums.
resource usage 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'usage'
  properties: {
    resource: {
      id: 'usage'
      partitionKey: { paths: ['/team', '/day'], kind: 'MultiHash', version: 2 }
      defaultTtl: usageTtlDays > 0 ? usageTtlDays * 86400 : -1
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          { path: '/team/?' }
          { path: '/day/?' }
          { path: '/ts/?' }
          { path: '/alias/?' }
          { path: '/deployment/?' }
          { path: '/kind/?' }
          { path: '/status/?' }
          { path: '/requestId/?' }
        ]
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

// Pre-aggregated sums per (team, day, alias, deployment, kind), patched in place: what /usage reads.
// The per-writer sequence map only feeds patch conditions, so it is not indexed.
resource rollups 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'rollups'
  properties: {
    resource: {
      id: 'rollups'
      partitionKey: { paths: ['/team', '/day'], kind: 'MultiHash', version: 2 }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [{ path: '/*' }]
        excludedPaths: [{ path: '/seq/*' }]
      }
    }
  }
}

// Stored Responses (`store: true` on /v1/responses), one per answer, read by id within the team's partition.
// Only the id is ever looked up, so nothing is indexed; they expire like OpenAI's.
resource responses 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'responses'
  properties: {
    resource: {
      id: 'responses'
      partitionKey: { paths: ['/team'], kind: 'Hash', version: 2 }
      defaultTtl: responsesTtlDays * 86400
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: []
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

// Management changes (who, when, before and after), appended and never updated; kept as long as the account.
// Partitioned by UTC month: GET /manage/audit reads one partition per month of its range. The before/after
// documents are never filtered on, so they are not indexed.
resource audit 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'audit'
  properties: {
    resource: {
      id: 'audit'
      partitionKey: { paths: ['/month'], kind: 'Hash', version: 2 }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [{ path: '/*' }]
        excludedPaths: [{ path: '/before/*' }, { path: '/after/*' }]
      }
    }
  }
}

// Every version of each deployment, route and team (the whole document per write), for history and rollback.
// One partition per document: its history is one single-partition query, a version a point read.
resource versions 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'versions'
  properties: {
    resource: {
      id: 'versions'
      partitionKey: { paths: ['/doc'], kind: 'Hash', version: 2 }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [{ path: '/*' }]
        excludedPaths: [{ path: '/document/*' }]
      }
    }
  }
}

// Budgets and rate limits held across instances: one document per (team, UTC month) and per (team, minute), changed
// only by conditional patches and read by id, so nothing is indexed. Windows carry their own short TTL; budgets none.
resource quotas 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'quotas'
  properties: {
    resource: {
      id: 'quotas'
      partitionKey: { paths: ['/team'], kind: 'Hash', version: 2 }
      defaultTtl: -1
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: []
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

// Deployment health shared across instances (capacity leases, in-flight, cool-downs, breakers, latency): one small
// document per deployment, all in one logical partition read by one query per sync and replaced under If-Match.
// Nothing is filtered on, so nothing is indexed; a deleted deployment's document expires.
resource live 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'live'
  properties: {
    resource: {
      id: 'live'
      partitionKey: { paths: ['/scope'], kind: 'Hash', version: 2 }
      defaultTtl: 3600
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: []
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

// Requests copied to a route's shadow deployment, primary and shadow side by side: one partition per alias, so a
// route's summary is one single-partition query over a time range. Only alias and ts are filtered on; kept 30 days.
resource shadow 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'shadow'
  properties: {
    resource: {
      id: 'shadow'
      partitionKey: { paths: ['/alias'], kind: 'Hash', version: 2 }
      defaultTtl: 30 * 86400
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [{ path: '/alias/?' }, { path: '/ts/?' }]
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

// Managed compute allocated by the hour: one document per (deployment, hour), upserted whole when late usage
// re-opens the hour, and one `first|<deployment>` marker per deployment; one partition per UTC month, so a month's
// statements and reconcile read one partition. Filtered on type, hour and deployment only; kept for good.
resource allocations 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'allocations'
  properties: {
    resource: {
      id: 'allocations'
      partitionKey: { paths: ['/month'], kind: 'Hash', version: 2 }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [{ path: '/type/?' }, { path: '/hour/?' }, { path: '/deployment/?' }]
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
