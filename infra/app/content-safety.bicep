// Azure AI Content Safety, reached with Entra ID only (Cognitive Services User, rbac.bicep):
// token auth needs the custom subdomain.
param name string
param location string
param tags object = {}

@allowed(['F0', 'S0'])
param skuName string = 'S0'

resource contentSafety 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'ContentSafety'
  sku: { name: skuName }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

output name string = contentSafety.name
output endpoint string = contentSafety.properties.endpoint
