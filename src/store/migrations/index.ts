/**
 * The versioned migrations, in order. A new migration is a new file added here with the
 * next number; a shipped migration is never edited.
 */
import type { Migration, MigrationProvider } from "kysely";
import * as initial from "./001-initial.js";
import * as interactiveOauth from "./002-interactive-oauth.js";
import * as uiSessions from "./003-ui-sessions.js";
import * as auditEvents from "./004-audit-events.js";
import * as userTokenRefreshLease from "./005-user-token-refresh-lease.js";
import * as oauthClientTrust from "./006-oauth-client-trust.js";
import * as uiSessionBinding from "./007-ui-session-binding.js";
import * as keyLimits from "./008-key-limits.js";
import * as clientAssertionJtis from "./009-client-assertion-jtis.js";
import * as aggregateSessions from "./010-aggregate-sessions.js";
import * as aggregateSessionOwner from "./011-aggregate-session-owner.js";
import * as inputEvents from "./012-input-events.js";
import * as aggregateSessionState from "./013-aggregate-session-state.js";
import * as toolPins from "./014-tool-pins.js";
import * as auditEventsServerAt from "./015-audit-events-server-at.js";
import * as userTokenHistory from "./016-user-token-history.js";
import * as auditEventsOutcomeWidth from "./017-audit-events-outcome-width.js";

const MIGRATIONS: Record<string, Migration> = {
  "001-initial": initial,
  "002-interactive-oauth": interactiveOauth,
  "003-ui-sessions": uiSessions,
  "004-audit-events": auditEvents,
  "005-user-token-refresh-lease": userTokenRefreshLease,
  "006-oauth-client-trust": oauthClientTrust,
  "007-ui-session-binding": uiSessionBinding,
  "008-key-limits": keyLimits,
  "009-client-assertion-jtis": clientAssertionJtis,
  "010-aggregate-sessions": aggregateSessions,
  "011-aggregate-session-owner": aggregateSessionOwner,
  "012-input-events": inputEvents,
  "013-aggregate-session-state": aggregateSessionState,
  "014-tool-pins": toolPins,
  "015-audit-events-server-at": auditEventsServerAt,
  "016-user-token-history": userTokenHistory,
  "017-audit-events-outcome-width": auditEventsOutcomeWidth,
};

/** Every migration's name, in order. */
export const MIGRATION_NAMES = Object.keys(MIGRATIONS);

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
