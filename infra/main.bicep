targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds a short unique token in every resource name.')
param environmentName string

// Regions that offer Flex Consumption, as listed by the azd Functions quickstarts.
@minLength(1)
@description('Region for all resources.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the deploying user or service principal, granted Cosmos data and Key Vault secrets access for local work. Empty grants nothing.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

param resourceGroupName string = ''

@description('Cosmos DB capacity: Serverless (per RU) or ProvisionedAutoscale (shared autoscale throughput on the database).')
@allowed(['Serverless', 'ProvisionedAutoscale'])
param cosmosCapacityMode string = 'Serverless'

@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Days a per-request usage record is kept; the rollups keep the sums. 0 keeps records forever.')
@minValue(0)
param usageTtlDays int = 90

@description('Concurrent HTTP requests per instance before Flex Consumption scales out.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Warm instances for the HTTP group (billed while idle). 0 scales to zero and accepts cold starts.')
@minValue(0)
param alwaysReadyInstances int = 0

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Upstream key app settings: app setting NAME (what a deployment\'s auth.secret names) to Key Vault secret name. Each becomes a Key Vault reference; put the secret in the vault after provisioning.')
param upstreamKeySecrets object = {}

@description('Deploy Azure AI Content Safety and grant the app Cognitive Services User.')
param deployContentSafety bool = false

param contentSafetyLocation string = location

@allowed(['F0', 'S0'])
param contentSafetySku string = 'S0'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var cosmosDatabaseName = 'switchyard'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module db 'app/db.bicep' = {
  name: 'db'
  scope: rg
  params: {
    name: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    usageTtlDays: usageTtlDays
  }
}

module keyVault 'app/key-vault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module contentSafety 'app/content-safety.bicep' = if (deployContentSafety) {
  name: 'contentSafety'
  scope: rg
  params: {
    name: 'cs-${resourceToken}'
    location: contentSafetyLocation
    tags: tags
    skuName: contentSafetySku
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    principalId: principalId
    principalType: principalType
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosAccountName: db.outputs.accountName
    cosmosDatabaseName: db.outputs.databaseName
    keyVaultName: keyVault.outputs.name
    contentSafetyName: deployContentSafety ? contentSafety.outputs.name : ''
  }
}

// What shared/config/config.ts reads. No COSMOS_KEY: the account accepts Entra ID only.
var gatewaySettings = {
  SWITCHYARD_MODE: 'azure'
  COSMOS_ENDPOINT: db.outputs.endpoint
  COSMOS_DATABASE: db.outputs.databaseName
}

var contentSafetySettings = deployContentSafety ? { CONTENT_SAFETY_ENDPOINT: contentSafety.outputs.endpoint } : {}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstances: alwaysReadyInstances
    keyVaultUri: keyVault.outputs.uri
    upstreamKeySecrets: upstreamKeySecrets
    appSettings: union(contentSafetySettings, gatewaySettings)
  }
  // The host reads storage and Key Vault at start-up: grant first.
  dependsOn: [rbac]
}

// Named like the settings they feed, so `azd env get-values` can drive a local run against these resources.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output COSMOS_ENDPOINT string = db.outputs.endpoint
output COSMOS_DATABASE string = db.outputs.databaseName
output AZURE_COSMOS_ACCOUNT_NAME string = db.outputs.accountName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output CONTENT_SAFETY_ENDPOINT string = deployContentSafety ? contentSafety.outputs.endpoint : ''
