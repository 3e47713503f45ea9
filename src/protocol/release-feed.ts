import { z } from 'zod';

/** One release of the GitHub Releases API, the fields the updater reads. */
export const ReleaseSchema = z.object({
  tag_name: z.string(),
  prerelease: z.boolean(),
  draft: z.boolean(),
  assets: z.array(z.object({ name: z.string(), browser_download_url: z.string() })),
});
export type Release = z.infer<typeof ReleaseSchema>;

export const ReleaseFeedSchema = z.array(ReleaseSchema);
export type ReleaseFeed = z.infer<typeof ReleaseFeedSchema>;
