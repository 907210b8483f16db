// The gateway: a Linux function app on a Flex Consumption plan, running as a user-assigned identity.
param name string
param planName string
param location string
param tags object = {}
param serviceName string = 'api'

param identityId string
param identityClientId string
param storageBlobEndpoint string
param deploymentContainerName string
param applicationInsightsName string

@description('Runtime version for Node on Flex Consumption.')
param nodeVersion string = '20'

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Concurrent HTTP requests per instance before Flex Consumption adds one (platform default at 2048 MB: 16).')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Instances of the HTTP group kept warm (billed while idle); 0 scales to zero.')
@minValue(0)
param alwaysReadyInstances int = 0

@description('Settings the gateway reads (shared/config/config.ts).')
param appSettings object = {}

@description('Vault the upstream key settings reference (ends with a slash).')
param keyVaultUri string

@description('App setting NAME (what a deployment\'s auth.secret names) to Key Vault secret name.')
param upstreamKeySecrets object = {}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with this identity, not a system-assigned one.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReadyInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyInstances }] : []
        triggers: {
          http: { perInstanceConcurrency: httpPerInstanceConcurrency }
        }
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// Flex Consumption takes the runtime from functionAppConfig: no FUNCTIONS_WORKER_RUNTIME or
// FUNCTIONS_EXTENSION_VERSION here. Host storage and telemetry go by managed identity.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identityClientId
}

// Versionless Key Vault references: a rotated secret is picked up without a redeploy.
var upstreamKeySettings = toObject(items(upstreamKeySecrets), entry => entry.key, entry => '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${entry.value}/)')

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(upstreamKeySettings, appSettings, hostSettings)
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
