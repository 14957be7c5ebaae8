import type { RecordedRequest } from './s3.ts';

/** Classifies recorded S3 requests by API operation (path-style addressing). */
export const s3Operation = {
  createMultipartUpload: (r: RecordedRequest) => r.method === 'POST' && 'uploads' in r.query,
  uploadPart: (r: RecordedRequest) => r.method === 'PUT' && 'partNumber' in r.query,
  completeMultipartUpload: (r: RecordedRequest) => r.method === 'POST' && 'uploadId' in r.query,
  abortMultipartUpload: (r: RecordedRequest) => r.method === 'DELETE' && 'uploadId' in r.query,
  putObject: (r: RecordedRequest) =>
    r.method === 'PUT' && !('partNumber' in r.query) && !('tagging' in r.query) && !('retention' in r.query),
};

/** Requests to a key (any operation). */
export function requestsFor(
  requests: readonly RecordedRequest[],
  bucket: string,
  key: string,
): RecordedRequest[] {
  return requests.filter((r) => r.path === `/${bucket}/${key}`);
}
