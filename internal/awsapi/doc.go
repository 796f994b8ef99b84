// Package awsapi is the edge for AWS JSON 1.1 services: it verifies SigV4
// signatures (what the headers claim before the body is read, within a
// bound of the bytes all requests in flight may hold, then the signature
// over the body), dispatches `POST /` on X-Amz-Target through one table of
// actions per service, decodes and validates the request against the
// service model, and writes results and errors the way AWS does (`__type`,
// `message`, X-Amzn-ErrorType, x-amzn-RequestId). Every refused call is
// logged at INFO.
//
// Operations never write HTTP: they return a typed *Error (or any other error,
// which becomes a ServerException) and this package maps it to the wire.
package awsapi
