// Every role assignment in one place. The app's identity gets what the gateway uses and no more;
// the deploying principal (principalId) gets what local development against these resources needs.
param appPrincipalId string

@description('Object id of the deploying user or service principal; empty grants nothing.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

param storageAccountName string
param applicationInsightsName string
param cosmosAccountName string
param cosmosDatabaseName string
param keyVaultName string

@description('Empty when Content Safety is not deployed.')
param contentSafetyName string = ''

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  cognitiveServicesUser: 'a97b65f3-24c7-4388-baec-2e87135dc908'
}
// Cosmos DB Built-in Data Contributor: a data-plane role, assigned on the account, not through Azure RBAC.
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'
var grantPrincipal = !empty(principalId)
var withContentSafety = !empty(contentSafetyName)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource cosmosDataContributorRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-11-15' existing = {
  parent: cosmos
  name: cosmosDataContributor
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource contentSafety 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = if (withContentSafety) {
  name: contentSafetyName
}

// Functions host storage (AzureWebJobsStorage) and the Flex Consumption deployment package.
resource appStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry with Entra auth (APPLICATIONINSIGHTS_AUTHENTICATION_STRING); local auth is off.
resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Resolves the @Microsoft.KeyVault(...) app settings that hold upstream keys.
resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Items in the switchyard database only. It cannot create containers: db.bicep does.
resource appCosmos 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, appPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: cosmosDataContributorRole.id
    principalId: appPrincipalId
    scope: '${cosmos.id}/dbs/${cosmosDatabaseName}'
  }
}

resource appContentSafety 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withContentSafety) {
  name: guid(resourceGroup().id, contentSafetyName, appPrincipalId, roles.cognitiveServicesUser)
  scope: contentSafety
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The deploying principal: run `npm start` against the account with COSMOS_ENDPOINT and Entra ID,
// and put upstream keys into the vault.
resource principalCosmos 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (grantPrincipal) {
  parent: cosmos
  name: guid(cosmos.id, principalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: cosmosDataContributorRole.id
    principalId: principalId
    scope: '${cosmos.id}/dbs/${cosmosDatabaseName}'
  }
  // Cosmos rejects concurrent role-assignment writes on one account.
  dependsOn: [appCosmos]
}

resource principalSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantPrincipal) {
  name: guid(keyVault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: principalId
    principalType: principalType
  }
}

resource principalContentSafety 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantPrincipal && withContentSafety) {
  name: guid(resourceGroup().id, contentSafetyName, principalId, roles.cognitiveServicesUser)
  scope: contentSafety
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesUser)
    principalId: principalId
    principalType: principalType
  }
}
