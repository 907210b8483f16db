import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

// Azure Functions reserves routes starting with "admin"; management lives under /manage.
const m = gateway.manage;
app.http('manageListDeployments', { route: 'manage/deployments', methods: ['GET'], authLevel: 'anonymous', handler: m.listDeployments });
app.http('manageGetDeployment', { route: 'manage/deployments/{id}', methods: ['GET'], authLevel: 'anonymous', handler: m.getDeployment });
app.http('managePutDeployment', { route: 'manage/deployments/{id}', methods: ['PUT'], authLevel: 'anonymous', handler: m.putDeployment });
app.http('managePatchDeployment', {
  route: 'manage/deployments/{id}',
  methods: ['PATCH'],
  authLevel: 'anonymous',
  handler: m.patchDeployment,
});
app.http('manageDeleteDeployment', {
  route: 'manage/deployments/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: m.deleteDeployment,
});
app.http('manageDeploymentVersions', {
  route: 'manage/deployments/{id}/versions',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.listDeploymentVersions,
});
app.http('manageRollbackDeployment', {
  route: 'manage/deployments/{id}/rollback',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: m.rollbackDeployment,
});
app.http('manageDeploymentPrices', {
  route: 'manage/deployments/{id}/prices',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.readDeploymentPrices,
});
app.http('manageDeploymentHealth', {
  route: 'manage/deployments/{id}/health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.deploymentHealth,
});
app.http('manageListDeploymentHealth', {
  route: 'manage/health/deployments',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.listDeploymentHealth,
});
app.http('manageListRoutes', { route: 'manage/routes', methods: ['GET'], authLevel: 'anonymous', handler: m.listRoutes });
app.http('manageGetRoute', { route: 'manage/routes/{alias}', methods: ['GET'], authLevel: 'anonymous', handler: m.getRoute });
app.http('managePutRoute', { route: 'manage/routes/{alias}', methods: ['PUT'], authLevel: 'anonymous', handler: m.putRoute });
app.http('managePatchRoute', { route: 'manage/routes/{alias}', methods: ['PATCH'], authLevel: 'anonymous', handler: m.patchRoute });
app.http('manageDeleteRoute', { route: 'manage/routes/{alias}', methods: ['DELETE'], authLevel: 'anonymous', handler: m.deleteRoute });
app.http('manageRouteVersions', {
  route: 'manage/routes/{alias}/versions',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.listRouteVersions,
});
app.http('manageRollbackRoute', {
  route: 'manage/routes/{alias}/rollback',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: m.rollbackRoute,
});
app.http('manageRouteShift', {
  route: 'manage/routes/{alias}/shift',
  methods: ['PUT'],
  authLevel: 'anonymous',
  handler: m.putRouteShift,
});
app.http('manageAbortRouteShift', {
  route: 'manage/routes/{alias}/shift',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: m.deleteRouteShift,
});
app.http('manageRouteShadow', {
  route: 'manage/routes/{alias}/shadow',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.readRouteShadow,
});
app.http('manageListTeams', { route: 'manage/teams', methods: ['GET'], authLevel: 'anonymous', handler: m.listTeams });
app.http('manageGetTeam', { route: 'manage/teams/{id}', methods: ['GET'], authLevel: 'anonymous', handler: m.getTeam });
app.http('managePutTeam', { route: 'manage/teams/{id}', methods: ['PUT'], authLevel: 'anonymous', handler: m.putTeam });
app.http('managePatchTeam', { route: 'manage/teams/{id}', methods: ['PATCH'], authLevel: 'anonymous', handler: m.patchTeam });
app.http('manageTeamVersions', {
  route: 'manage/teams/{id}/versions',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: m.listTeamVersions,
});
app.http('manageRollbackTeam', {
  route: 'manage/teams/{id}/rollback',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: m.rollbackTeam,
});
app.http('manageListBlocklists', { route: 'manage/blocklists', methods: ['GET'], authLevel: 'anonymous', handler: m.listBlocklists });
app.http('manageGetBlocklist', { route: 'manage/blocklists/{name}', methods: ['GET'], authLevel: 'anonymous', handler: m.getBlocklist });
app.http('managePutBlocklist', { route: 'manage/blocklists/{name}', methods: ['PUT'], authLevel: 'anonymous', handler: m.putBlocklist });
app.http('manageDeleteBlocklist', {
  route: 'manage/blocklists/{name}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: m.deleteBlocklist,
});
app.http('manageSafetySelfTest', {
  route: 'manage/safety/selftest',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: m.safetySelfTest,
});
app.http('manageCreateTeamKey', { route: 'manage/teams/{id}/keys', methods: ['POST'], authLevel: 'anonymous', handler: m.createTeamKey });
app.http('manageDeleteTeamKey', {
  route: 'manage/teams/{id}/keys/{keyId}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: m.deleteTeamKey,
});
app.http('manageListKeys', { route: 'manage/keys', methods: ['GET'], authLevel: 'anonymous', handler: m.listKeys });
app.http('manageCreateRoleKey', { route: 'manage/keys', methods: ['POST'], authLevel: 'anonymous', handler: m.createRoleKey });
app.http('manageDeleteKey', { route: 'manage/keys/{id}', methods: ['DELETE'], authLevel: 'anonymous', handler: m.deleteKey });
app.http('manageAudit', { route: 'manage/audit', methods: ['GET'], authLevel: 'anonymous', handler: m.readAudit });
app.http('manageExplain', { route: 'manage/explain', methods: ['POST'], authLevel: 'anonymous', handler: m.explain });
