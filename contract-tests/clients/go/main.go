// The generated-client scenario (see ../README.md) with openapi-generator's Go client, the
// module of the package applytry-client-go-VERSION.zip.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	applytry "example.com/applytry/client"
)

func main() {
	base, phone := os.Args[1], os.Args[2]
	cfg := applytry.NewConfiguration()
	cfg.Servers = applytry.ServerConfigurations{{URL: base}}
	api := applytry.NewAPIClient(cfg).ApplyTryAPI
	ctx := context.Background()

	ask := func(number string) (*applytry.GenerateVerifyCodeResult, int, string, error) {
		request := applytry.GenerateVerifyCodeRequest{Phone: number}
		result, response, err := api.GenerateVerifyCode(ctx).GenerateVerifyCodeRequest(request).Execute()
		if response == nil {
			fail("no response: %v", err)
		}
		return result, response.StatusCode, response.Header.Get("Retry-After"), err
	}

	first, _, _, err := ask(phone)
	check(err)
	second, _, retryAfter, err := ask(phone)
	check(err)
	wait, err := strconv.Atoi(retryAfter)
	check(err)

	_, badStatus, _, err := ask("not a phone")
	var apiError *applytry.GenericOpenAPIError
	if !errors.As(err, &apiError) {
		fail("a bad phone did not surface as an API error: %v", err)
	}
	problem, ok := apiError.Model().(applytry.Problem)
	if !ok {
		fail("the 400 body did not decode as a Problem: %s", apiError.Body())
	}

	out, _ := json.Marshal(map[string]any{
		"first":      first.RetCode,
		"second":     second.RetCode,
		"retryAfter": wait,
		"badStatus":  badStatus,
		"badTitle":   problem.Title,
	})
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
