// The generated-client scenario (see ../README.md) with openapi-generator's Java client on
// java.net.http.HttpClient, whose defaults offer an h2c upgrade on every plain-HTTP request.
import com.applytry.client.ApiClient;
import com.applytry.client.ApiException;
import com.applytry.client.ApiResponse;
import com.applytry.client.api.ApplyTryApi;
import com.applytry.client.model.GenerateVerifyCodeRequest;
import com.applytry.client.model.GenerateVerifyCodeResult;
import com.applytry.client.model.Problem;
import java.util.LinkedHashMap;
import java.util.Map;

public class Scenario {
    public static void main(String[] args) throws Exception {
        ApiClient client = new ApiClient();
        client.updateBaseUri(args[0]);
        ApplyTryApi api = new ApplyTryApi(client);

        ApiResponse<GenerateVerifyCodeResult> first = ask(api, args[1]);
        ApiResponse<GenerateVerifyCodeResult> second = ask(api, args[1]);
        String retryAfter = second.getHeaders().get("Retry-After").get(0);

        int badStatus;
        Problem problem;
        try {
            ask(api, "not a phone");
            throw new AssertionError("a bad phone was accepted");
        } catch (ApiException error) {
            badStatus = error.getCode();
            problem = client.getObjectMapper().readValue(error.getResponseBody(), Problem.class);
        }

        Map<String, Object> out = new LinkedHashMap<>();
        out.put("first", first.getData().getRetCode().getValue());
        out.put("second", second.getData().getRetCode().getValue());
        out.put("retryAfter", Integer.parseInt(retryAfter));
        out.put("badStatus", badStatus);
        out.put("badTitle", problem.getTitle());
        System.out.println(client.getObjectMapper().writeValueAsString(out));
    }

    private static ApiResponse<GenerateVerifyCodeResult> ask(ApplyTryApi api, String phone)
            throws ApiException {
        return api.generateVerifyCodeWithHttpInfo(new GenerateVerifyCodeRequest().phone(phone), null);
    }
}
