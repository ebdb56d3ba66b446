-- Logins find a user by e-mail address whatever its case (as mail systems do for the domain,
-- and as people type the rest): lower(email) = lower($1), served by this index.
CREATE INDEX users_email_lower_idx ON users (lower(email));
