/** The part of GitHub's push webhook payload this app reads. */
export interface GithubPush {
  repository: { full_name: string };
  commits: { message: string }[];
}

/** Data of the `user_signup` event. */
export interface UserSignup {
  id: string;
  name: string;
}
