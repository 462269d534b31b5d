import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { AccountsService } from './accounts.service.js';

/**
 * A Passport instance of our own (not the module singleton) for form logins. The session holds only the
 * user id; every request reloads the user so that a disabled or deleted account is signed out at once.
 */
export type SessionAuth = passport.Authenticator;

export function createSessionAuth(accounts: AccountsService): SessionAuth {
  const auth = new passport.Authenticator();
  auth.use(
    new LocalStrategy((username, password, done) => {
      accounts.verifyCredentials(username, password).then((user) => done(null, user ?? false), done);
    }),
  );
  auth.serializeUser((user, done) => done(null, user.id));
  auth.deserializeUser((id: number, done) => done(null, accounts.findActiveUser(id) ?? false));
  return auth;
}
